package main

// The pipeline: one goroutine reads the inputs in order, decodes each frame
// into a reassembly.Segment and appends it, payload copied into the batch's
// arena, to the pending batch of the shard its connection hashes to. Full
// batches cross a channel to that shard's goroutine, which owns the shard's
// flows (no lock per packet) and hands the batch back to the free list when
// done. Both directions of a connection hash alike, so they meet in one shard.
//
// A live capture has one reader per socket. Its source never ends: when the
// wire is quiet the reader sends its batches and moves the clock on with the
// wall clock; when the context is cancelled it stops the source (the kernel
// then adds nothing to the ring) and reads what the ring still holds, so
// nothing captured before the signal is lost.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowcap/flowcap/bpf"
	"github.com/flowcap/flowcap/capture"
	"github.com/flowcap/flowcap/flowfile"
	"github.com/flowcap/flowcap/reassembly"
)

const (
	batchSegments = 512     // segments per batch
	batchArena    = 1 << 18 // payload bytes copied per batch (64 KiB GRO segments fit)
	batchBlocks   = 1       // input blocks one batch may hold at most (see batch)
	batchesPerShd = 2       // batches in flight per shard at most: bounds memory, gives backpressure (see batch)

	// A live reader sends its batches at least this often (capture time),
	// so that flow files keep up with a slow trickle of packets.
	liveFlush = int64(time.Second)
	// After a stop, a live reader reads what its ring holds for at most
	// this long, so that flowcap exits promptly even under a flood.
	drainTimeout = time.Second
)

// batch carries segments from the reader to one shard. A segment's payload
// lies in one of the input blocks the batch holds (capture.Holder: no copy),
// or was copied into arena (a datagram put together from fragments, a live
// capture), or, when larger than a whole arena, into a slice of its own.
//
// A batch holds at most batchBlocks input blocks, so that the blocks
// alive stay few however the segments spread over the shards: the reader
// keeps one pending batch per shard, and a shard that gets few segments
// would otherwise hold old blocks for long. One block per batch, and two
// batches in flight per shard, also keep the bytes between the reader and
// the shards few, so that blocks come back to the reader, and payload
// reaches a shard, while still in the CPU's cache: against 3 blocks and 4
// batches, the kernel's copies into and out of them took 5 to 10 % fewer
// samples, and each step made large segments 4 to 12 % faster and 10,000
// interleaved connections 0 to 11 % (docs/performance.md).
type batch struct {
	segs   []reassembly.Segment
	arena  []byte           // made at the first copy
	blocks []*capture.Block // retained; released when the shard is done
	now    int64            // capture clock when the batch was sent
	flush  bool             // a live reader's tick: write out the shard's buffers
}

func newBatch() *batch {
	return &batch{segs: make([]reassembly.Segment, 0, batchSegments), blocks: make([]*capture.Block, 0, batchBlocks)}
}

// reset empties b once its shard is done with it. Payloads no longer
// point anywhere, so that they keep no memory alive.
func (b *batch) reset() {
	clear(b.segs)
	b.segs = b.segs[:0]
	b.arena = b.arena[:0]
	for _, blk := range b.blocks {
		blk.Release()
	}
	clear(b.blocks)
	b.blocks = b.blocks[:0]
	b.flush = false
}

// add appends seg, its payload (and its frame, -K) held in blk (nil: no
// block) or copied; false when the batch is full.
func (b *batch) add(seg *reassembly.Segment, blk *capture.Block) bool {
	if len(b.segs) == cap(b.segs) {
		return false
	}
	if blk != nil && (len(seg.Payload) > 0 || seg.Frame != nil) &&
		(len(seg.Payload) == 0 || blk.Contains(seg.Payload)) && (seg.Frame == nil || blk.Contains(seg.Frame)) {
		if k := len(b.blocks); k == 0 || b.blocks[k-1] != blk {
			if k == cap(b.blocks) {
				return false
			}
			blk.Retain()
			b.blocks = append(b.blocks, blk)
		}
		b.segs = append(b.segs, *seg)
		return true
	}
	n := len(seg.Payload)
	if n == 0 && seg.Frame == nil {
		b.segs = append(b.segs, *seg)
		return true
	}
	if b.arena == nil {
		b.arena = make([]byte, 0, batchArena)
	}
	if seg.Frame != nil {
		return b.addFramed(seg) // -K
	}
	if len(b.arena)+n > cap(b.arena) {
		if len(b.segs) > 0 {
			return false
		}
		// A payload larger than a whole arena (a huge GRO frame) gets its own copy.
		b.segs = append(b.segs, *seg)
		b.segs[0].Payload = append([]byte(nil), seg.Payload...)
		return true
	}
	start := len(b.arena)
	b.arena = append(b.arena, seg.Payload...)
	b.segs = append(b.segs, *seg)
	b.segs[len(b.segs)-1].Payload = b.arena[start : start+n : start+n]
	return true
}

// readStats counts what a reader saw. Only its reader goroutine writes it.
type readStats struct {
	packets  uint64
	bytes    uint64 // captured, of every packet read
	filtered uint64 // rejected by the filter
	tcp      uint64
	skipped  [capture.NumResults]uint64 // by capture.Result
	noFrame  uint64                     // -K: segments of reassembled fragments, not in the pcaps
}

func (s *readStats) add(o *readStats) {
	s.packets += o.packets
	s.bytes += o.bytes
	s.filtered += o.filtered
	s.tcp += o.tcp
	s.noFrame += o.noFrame
	for i, n := range o.skipped {
		s.skipped[i] += n
	}
}

// pipeline wires readers to the shards and the shards to the sinks.
type pipeline struct {
	cfg      *config
	stderr   io.Writer
	shards   []*reassembly.Shard
	work     []chan *batch
	free     chan *batch
	writer   *flowfile.Writer   // nil with -c
	console  *flowfile.Console  // -c: the streams printed instead; nil otherwise
	reporter *flowfile.Reporter // report.xml, flows.jsonl, scanners, -e programs; nil if none
	strict   *strictLog         // -l; nil otherwise
	readers  []*reader
	open     []atomic.Int64 // per shard: streams open, as of its last batch
	tap      *pcapTap       // -w: the packets that passed the filter; nil without -w
	stop     atomic.Bool    // a shard failed: readers stop

	// --count: readers stop once limit packets passed the filter; counted
	// counts them across readers and limitReached tells the others.
	limit        int64
	counted      atomic.Int64
	limitReached func()

	// checkUntil, for a live capture with a filter in the kernel, is when
	// it was attached: only packets captured until then are checked in
	// user space (0: check every packet, as for files).
	checkUntil int64

	kernel *capture.LiveStats // a live capture's kernel counters, for the summary
	wg     sync.WaitGroup
	errMu  sync.Mutex
	err    error // the first shard error

	restoreMemoryLimit func() // puts back the Go runtime's memory limit from before
}

func newPipeline(cfg *config, stdout, stderr io.Writer) (*pipeline, error) {
	readers := max(cfg.readers, 1)
	budget := cfg.mem
	if budget == 0 {
		budget = defaultMem << 20
	}
	mem := planMemory(budget, cfg.shards, readers)
	p := &pipeline{
		cfg:    cfg,
		stderr: stderr,
		// Each reader holds up to one pending batch per shard, beyond
		// those in flight.
		free: make(chan *batch, cfg.shards*(mem.perShard+readers)),
		open: make([]atomic.Int64, cfg.shards),
	}
	fc := flowfile.Config{Dir: cfg.outDir, MaxBytes: cfg.maxBytes, Shards: cfg.shards, Pcap: cfg.reports.pcap, MaxDisk: cfg.maxDisk, MaxBuffer: mem.buffers}
	if cfg.maxDisk > 0 {
		fc.OnQuota = func() {
			fmt.Fprintf(stderr, "flowcap: warning: --max-disk reached (%d bytes of flow files and reports): no more flow data is written, nor connections reported; what is left out is counted\n", cfg.maxDisk)
		}
	}
	if cfg.verbose {
		fc.OnClose = listFlow(stderr)
	}
	var sinkOf func(int) reassembly.Sink
	if cfg.console.on {
		p.console = newConsole(cfg, stdout, fc.OnClose)
		sinkOf = p.console.Sink
	} else {
		var rep *flowfile.Reporter // made once New has made the directory, before any shard runs
		if cfg.reports.wanted() {
			fc.OnClose = bothOnClose(fc.OnClose, func(st *reassembly.Stream, name string, size int64) { rep.OnClose(st, name, size) })
		}
		w, err := flowfile.New(fc)
		if err != nil {
			return nil, err
		}
		if cfg.reports.wanted() {
			if rep, err = newReporter(cfg, w, stdout, stderr); err != nil {
				w.Close()
				return nil, err
			}
		}
		p.writer, p.reporter, sinkOf = w, rep, w.Sink
	}
	if cfg.strict {
		p.strict = newStrictLog(stderr)
	}
	for range cap(p.free) {
		p.free <- newBatch()
	}
	pending := reassembly.NewBudget(mem.pending) // out-of-order data, across shards
	for i := range cfg.shards {
		rc := cfg.reassembly
		rc.Pending, rc.Index, rc.Count = pending, i, cfg.shards
		if p.strict != nil {
			rc.OnEvent = p.strict.onEvent
		}
		shard := reassembly.NewShard(rc, sinkOf(i))
		ch := make(chan *batch, mem.perShard)
		p.shards = append(p.shards, shard)
		p.work = append(p.work, ch)
		p.wg.Add(1)
		go p.runShard(i, shard, ch, &p.open[i])
	}
	p.restoreMemoryLimit = setMemoryLimit(mem)
	return p, nil
}

// listFlow returns the -v printer: one line per stream as it closes.
// Shards close streams concurrently; the lock is per closed flow, not per
// packet.
func listFlow(w io.Writer) func(*reassembly.Stream, string, int64) {
	var mu sync.Mutex
	return func(st *reassembly.Stream, name string, size int64) {
		mu.Lock()
		defer mu.Unlock()
		var left string
		if n := flowfile.Skipped(st); n > 0 {
			left = fmt.Sprintf(", %d bytes left out (--max-disk)", n)
		}
		if name == "" {
			fmt.Fprintf(w, "flowcap: flow %s closed (%v): %d packets, no data%s\n",
				flowfile.Name(st.Key, st.VLAN, 0), st.Reason, st.Packets, left)
			return
		}
		fmt.Fprintf(w, "flowcap: flow %s closed (%v): %d packets, %d bytes, %d holes%s\n",
			name, st.Reason, st.Packets, size, st.Holes, left)
	}
}

// runShard is the goroutine that owns one shard. Batches from several
// readers may interleave, so the clock it ticks with never goes back.
func (p *pipeline) runShard(i int, shard *reassembly.Shard, in <-chan *batch, open *atomic.Int64) {
	defer p.wg.Done()
	var now int64
	failed := false
	for b := range in {
		if !failed {
			for i := range b.segs {
				if err := shard.Handle(&b.segs[i]); err != nil {
					p.fail(err)
					failed = true
					break
				}
			}
			now = max(now, b.now)
			if !failed {
				if err := shard.Tick(now); err != nil {
					p.fail(err)
					failed = true
				}
			}
			if !failed && b.flush && p.writer != nil {
				if err := p.writer.Flush(i); err != nil {
					p.fail(err)
					failed = true
				}
			}
			open.Store(int64(shard.Stats().Open))
		}
		b.reset()
		p.free <- b
	}
	if !failed {
		if err := shard.Finish(); err != nil {
			p.fail(err)
		}
	}
}

func (p *pipeline) fail(err error) {
	p.errMu.Lock()
	if p.err == nil {
		p.err = err
	}
	p.errMu.Unlock()
	p.stop.Store(true)
}

// finish lets every shard finish once the readers have flushed, then closes
// the files. No reader may feed the pipeline after it.
func (p *pipeline) finish() error {
	for _, ch := range p.work {
		close(ch)
	}
	p.wg.Wait()
	p.restoreMemoryLimit()
	var err error
	if p.console != nil {
		err = p.console.Close()
	} else {
		err = p.writer.Close()
	}
	failed := p.err // flow data that could not be written: the reports say so
	if failed == nil {
		failed = err
	}
	rerr := p.closeReports(failed)
	if p.tap != nil {
		err = errors.Join(err, p.tap.close())
		if p.tap.left > 0 {
			fmt.Fprintf(p.stderr, "flowcap: warning: -w %s: %d packets left out: a pcap file has one link type, %v\n", p.tap.name, p.tap.left, p.tap.lt)
		}
	}
	if p.err != nil {
		// The reports, left as .partial, said so; their own write errors
		// on the same full disk are no second problem.
		return p.err
	}
	return errors.Join(err, rerr)
}

// stats sums the readers' counters.
func (p *pipeline) stats() (s readStats, dec capture.Stats) {
	for _, r := range p.readers {
		s.add(&r.stats)
		ds := r.dec.Stats()
		dec.Truncated += ds.Truncated
		dec.Defrag.Datagrams += ds.Defrag.Datagrams
		dec.Defrag.TimedOut += ds.Defrag.TimedOut
		dec.Defrag.Evicted += ds.Defrag.Evicted
		dec.Defrag.InProgress += ds.Defrag.InProgress
	}
	return s, dec
}

// reader decodes packets from sources and batches the segments per shard.
// One goroutine owns a reader; several readers may feed one pipeline.
type reader struct {
	p        *pipeline
	dec      *capture.Decoder
	pending  []*batch // per shard, nil until a segment comes
	clock    int64    // capture time of the latest packet
	lastTick int64    // clock when a live reader last sent every batch
	stats    readStats
	pub      struct{ packets, bytes atomic.Uint64 } // stats as of the last look, for other goroutines
}

// newReader adds a reader to the pipeline. Call it before any reader runs.
func (p *pipeline) newReader() *reader {
	r := &reader{p: p, dec: capture.NewDecoder(), pending: make([]*batch, len(p.shards))}
	p.readers = append(p.readers, r)
	return r
}

// dispatch queues one decoded segment for its shard; its payload lies in
// blk, or is copied when blk is nil or does not hold it.
func (r *reader) dispatch(seg *reassembly.Segment, blk *capture.Block) {
	i := int(seg.Key.Hash() % uint64(len(r.pending)))
	b := r.pending[i]
	if b == nil {
		b = <-r.p.free
		r.pending[i] = b
	}
	if !b.add(seg, blk) {
		r.send(i)
		b = <-r.p.free
		r.pending[i] = b
		b.add(seg, blk)
	}
}

func (r *reader) send(i int) {
	b := r.pending[i]
	r.pending[i] = nil
	b.now = r.clock
	r.p.work[i] <- b
}

// tick sends every pending batch, and an empty one to each shard that has
// none, so that every shard's clock moves to the reader's. Only live
// readers tick: each tick also has the shards write out their buffers, so
// that a live capture's flow files are on disk within about a second
// (for tail -f, and for a sidecar killed without warning).
func (r *reader) tick() {
	for i, b := range r.pending {
		if b == nil {
			r.pending[i] = <-r.p.free
		}
		r.pending[i].flush = true
		r.send(i)
	}
	r.lastTick = r.clock
}

// publish makes the reader's counters visible to other goroutines (-R).
func (r *reader) publish() {
	r.pub.packets.Store(r.stats.packets)
	r.pub.bytes.Store(r.stats.bytes)
}

// stopper is a live source (capture.LiveSocket): it never ends by itself,
// its Next returns capture.ErrNoPacket when the poll timeout passes, and
// Stop makes it take no new packet, so that reading on until ErrNoPacket
// returns everything it captured before.
type stopper interface{ Stop() error }

// flush sends every pending batch.
func (r *reader) flush() {
	for i, b := range r.pending {
		if b != nil {
			r.send(i)
		}
	}
}

// feed reads one source to its end (or until ctx is done or a shard
// fails) through the filter and the decoder into the shards. A live source
// is stopped when ctx is done and read until its ring is empty (at most
// drainTimeout).
func (r *reader) feed(ctx context.Context, src capture.Source) error {
	done := ctx.Done()
	live, isLive := src.(stopper)
	var drainUntil time.Time           // set when a live source has been stopped
	var unsupported []capture.LinkType // named once per input
	match := r.p.matcher(src.Name())
	holder, _ := src.(capture.Holder) // packets handed over in their blocks, not copied
	for n := 0; ; n++ {
		if n&255 == 0 {
			r.publish()
			if r.p.stop.Load() {
				return nil
			}
			if drainUntil.IsZero() {
				select {
				case <-done:
					if !isLive {
						return ctx.Err()
					}
					if err := live.Stop(); err != nil {
						return err
					}
					drainUntil = time.Now().Add(drainTimeout)
				default:
				}
			} else if time.Now().After(drainUntil) {
				return errDrainCut
			}
		}
		data, info, err := src.Next()
		if err != nil {
			switch {
			case errors.Is(err, io.EOF):
				return nil
			case errors.Is(err, capture.ErrNoPacket):
				if !drainUntil.IsZero() {
					return nil // stopped, and everything captured was read
				}
				// A quiet wire: send what is pending, move the clock with
				// the wall clock so idle flows time out, look at ctx.
				r.clock = max(r.clock, time.Now().UnixNano())
				r.tick()
				n = -1
				continue
			}
			return err
		}
		r.stats.packets++
		r.stats.bytes += uint64(len(data))
		if info.Time > r.clock {
			r.clock = info.Time
		}
		if isLive && r.clock-r.lastTick >= liveFlush {
			r.tick()
		}
		if match != nil && info.LinkType.Supported() && (r.p.checkUntil == 0 || info.Time <= r.p.checkUntil) && !match(data, info) {
			r.stats.filtered++
			continue
		}
		if r.p.limit > 0 {
			switch k := r.p.counted.Add(1); {
			case k > r.p.limit: // another reader took the last one
				r.stats.packets--
				r.stats.bytes -= uint64(len(data))
				return nil
			case k == r.p.limit:
				r.p.limitReached()
			}
		}
		if r.p.tap != nil {
			r.p.tap.write(src.Name(), data, info)
		}
		var seg reassembly.Segment
		res := r.dec.Decode(data, info, &seg)
		if res != capture.OK {
			if res == capture.UnsupportedLinkType && !slices.Contains(unsupported, info.LinkType) {
				unsupported = append(unsupported, info.LinkType)
				fmt.Fprintf(r.p.stderr, "flowcap: warning: %s: %v is not a link type flowcap decodes; its packets are skipped\n", src.Name(), info.LinkType)
			}
			if res != capture.Pending { // a fragment is held, not skipped
				r.stats.skipped[res]++
			}
			continue
		}
		r.stats.tcp++
		if r.p.cfg.reports.pcap && !withFrame(&seg, data, uint32(info.LinkType)) {
			r.stats.noFrame++
		}
		var blk *capture.Block
		if holder != nil {
			blk = holder.Block()
		}
		r.dispatch(&seg, blk)
	}
}

// errDrainCut: a live reader gave up reading its ring drainTimeout after
// the stop.
var errDrainCut = errors.New("ring not drained")

// matcher returns the filter as a function of one packet (nil: no filter),
// with the program of the packet's link type looked up only when it changes.
// A link type the expression cannot apply to is named once and its packets
// rejected.
func (p *pipeline) matcher(input string) func([]byte, capture.Info) bool {
	if p.cfg.filter == nil {
		return nil
	}
	var (
		lt     capture.LinkType
		prog   *bpf.Program
		failed []capture.LinkType
	)
	return func(data []byte, info capture.Info) bool {
		if prog == nil || info.LinkType != lt {
			var err error
			lt = info.LinkType
			prog, err = p.cfg.filter.Program(uint32(lt))
			if err != nil {
				prog = nil
				// A live capture checks only the packets queued before its
				// kernel filter came: dropping those few is no news.
				if p.checkUntil == 0 && !slices.Contains(failed, lt) {
					failed = append(failed, lt)
					fmt.Fprintf(p.stderr, "flowcap: %s: the filter cannot apply to %v, its packets are skipped: %v\n", input, lt, err)
				}
				return false
			}
		}
		return prog.Match(data, info.WireLen)
	}
}

// readMain is `flowcap read`: every input in order, one capture.
func readMain(ctx context.Context, cfg *config, stdout, stderr io.Writer) (err error) {
	stopProfile, err := startProfile(cfg)
	if err != nil {
		return err
	}
	defer func() {
		if perr := stopProfile(); err == nil {
			err = perr
		}
	}()
	var tap *pcapTap
	if cfg.writePcap != "" {
		var err error
		if tap, err = openTap(cfg.writePcap, stdout, 0); err != nil {
			return err
		}
	}
	var bar *progress // on a terminal: it takes what goes to stderr meanwhile
	if progressWanted(cfg, stdout, stderr) {
		bar = &progress{stderr: stderr}
		stderr = bar
	}
	p, err := newPipeline(cfg, stdout, stderr)
	if err != nil {
		if tap != nil {
			tap.close()
		}
		return err
	}
	p.tap = tap
	if bar != nil {
		bar.start(cfg.inputs, p.openFlows)
		defer bar.stop()
	}
	// Several inputs are one capture: one reader, one decoder, in order.
	r := p.newReader()
	failedInputs := 0
	for _, name := range cfg.inputs {
		if ctx.Err() != nil || p.stop.Load() {
			break
		}
		src, err := openInput(ctx, name)
		if err != nil {
			fmt.Fprintf(stderr, "flowcap: %v\n", err)
			failedInputs++
			continue
		}
		bar.reading(src)
		err = r.feed(ctx, src)
		bar.reading(nil)
		src.Close()
		switch {
		case err == nil, errors.Is(err, context.Canceled), readInterrupted(ctx, err):
		case errors.Is(err, capture.ErrTruncated):
			if !cfg.quieter {
				fmt.Fprintf(stderr, "flowcap: warning: %v (kept every packet before it)\n", err)
			}
		default:
			fmt.Fprintf(stderr, "flowcap: %v\n", err)
			failedInputs++
		}
	}
	r.flush()
	// A write error (a full disk...) leaves files incomplete: flowcap says
	// which file and why, prints no summary, and exits 1; the reports stay
	// under their .partial names (flowfile.Reporter.Close), so that no
	// report.xml or flows.jsonl ever describes files that are not on disk.
	err = p.finish()
	bar.stop()
	if err != nil {
		return err
	}
	if !cfg.quiet {
		p.printSummary()
	}
	var sig interrupted
	if errors.As(context.Cause(ctx), &sig) {
		return &exitError{code: sig.exitCode()}
	}
	if failedInputs > 0 {
		return &exitError{code: 1}
	}
	if unsup := r.stats.skipped[capture.UnsupportedLinkType]; unsup > 0 && unsup == r.stats.packets {
		return errors.New("nothing could be decoded: no input has a link type flowcap knows")
	}
	return nil
}

func (p *pipeline) printSummary() {
	var conns, holes, evicted uint64
	for _, s := range p.shards {
		st := s.Stats()
		conns += st.Connections
		holes += st.Holes
		evicted += st.Closed[reassembly.Evicted]
	}
	rs, ds := p.stats()
	var ws flowfile.Stats // none with -c
	fmt.Fprintf(p.stderr, "flowcap: %d packets (%d TCP), %d connections, ", rs.packets, rs.tcp, conns)
	if p.console != nil {
		fmt.Fprintf(p.stderr, "%d bytes printed", p.console.Stats().Bytes)
	} else {
		ws = p.writer.Stats()
		fmt.Fprintf(p.stderr, "%d flow files, %d bytes written", ws.Files, ws.Bytes)
	}
	fmt.Fprintf(p.stderr, ", %d holes", holes)
	if ds.Truncated > 0 {
		fmt.Fprintf(p.stderr, ", %d segments cut short by the snaplen", ds.Truncated)
	}
	if ds.Defrag.Datagrams > 0 {
		fmt.Fprintf(p.stderr, ", %d IP datagrams reassembled from fragments", ds.Defrag.Datagrams)
	}
	if lost := ds.Defrag.TimedOut + ds.Defrag.Evicted + uint64(ds.Defrag.InProgress); lost > 0 {
		fmt.Fprintf(p.stderr, ", %d fragmented datagrams never completed", lost)
	}
	if evicted > 0 {
		fmt.Fprintf(p.stderr, ", %d flows closed early (--max-flows)", evicted)
	}
	if ws.Skipped > 0 {
		fmt.Fprintf(p.stderr, ", %d bytes of %d flows left out (--max-disk)", ws.Skipped, ws.Cut)
	}
	if rs.filtered > 0 {
		fmt.Fprintf(p.stderr, ", %d filtered out", rs.filtered)
	}
	if k := p.kernel; k != nil {
		fmt.Fprintf(p.stderr, ", %d received by the kernel filter, %d dropped by the kernel (%d ring freezes)", k.Received, k.Dropped, k.Freezes)
	}
	p.reportSummary(p.stderr)
	p.strict.summary(p.stderr)
	sep := "; skipped:"
	for r, n := range rs.skipped {
		if n > 0 {
			fmt.Fprintf(p.stderr, "%s %d %v", sep, n, capture.Result(r))
			sep = ","
		}
	}
	fmt.Fprintln(p.stderr)
}
