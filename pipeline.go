package main

// The pipeline: one goroutine reads the inputs in order, decodes each frame
// into a reassembly.Segment and appends it, payload copied into the batch's
// arena, to the pending batch of the shard its connection hashes to. Full
// batches cross a channel to that shard's goroutine, which owns the shard's
// flows (no lock per packet) and hands the batch back to the free list when
// done. Both directions of a connection hash alike, so they meet in one shard.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/flowcap/flowcap/bpf"
	"github.com/flowcap/flowcap/capture"
	"github.com/flowcap/flowcap/flowfile"
	"github.com/flowcap/flowcap/reassembly"
)

const (
	batchSegments = 512     // segments per batch
	batchArena    = 1 << 19 // payload bytes per batch (64 KiB GRO segments fit)
	batchesPerShd = 4       // batches in flight per shard: bounds memory, gives backpressure
)

// batch carries segments from the reader to one shard. Its segments'
// payloads point into arena (or, for an oversized one, into its own slice).
type batch struct {
	segs  []reassembly.Segment
	arena []byte
	now   int64 // capture clock when the batch was sent
}

func (b *batch) reset() {
	b.segs = b.segs[:0]
	b.arena = b.arena[:0]
}

// add appends seg with its payload copied; false when the batch is full.
func (b *batch) add(seg *reassembly.Segment) bool {
	n := len(seg.Payload)
	if len(b.segs) == cap(b.segs) {
		return false
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

// readStats counts what the reader saw. Only the reader goroutine writes it.
type readStats struct {
	packets  uint64
	filtered uint64 // rejected by the filter
	tcp      uint64
	skipped  [256]uint64 // by capture.Result
}

// pipeline wires the reader to the shards and the shards to the sinks.
type pipeline struct {
	cfg     *config
	stderr  io.Writer
	shards  []*reassembly.Shard
	work    []chan *batch
	free    chan *batch
	pending []*batch
	writer  *flowfile.Writer
	stats   readStats
	dec     *capture.Decoder
	clock   int64
	stop    atomic.Bool // a shard failed: the reader stops
	wg      sync.WaitGroup
	errMu   sync.Mutex
	err     error // the first shard error
}

func newPipeline(cfg *config, stderr io.Writer) (*pipeline, error) {
	w, err := flowfile.New(flowfile.Config{Dir: cfg.outDir, MaxBytes: cfg.maxBytes, Shards: cfg.shards})
	if err != nil {
		return nil, err
	}
	p := &pipeline{
		cfg:     cfg,
		stderr:  stderr,
		writer:  w,
		dec:     capture.NewDecoder(),
		free:    make(chan *batch, cfg.shards*batchesPerShd),
		pending: make([]*batch, cfg.shards),
	}
	for range cap(p.free) {
		p.free <- &batch{segs: make([]reassembly.Segment, 0, batchSegments), arena: make([]byte, 0, batchArena)}
	}
	for i := range cfg.shards {
		shard := reassembly.NewShard(reassembly.Config{}, w.Sink(i))
		ch := make(chan *batch, batchesPerShd)
		p.shards = append(p.shards, shard)
		p.work = append(p.work, ch)
		p.wg.Add(1)
		go p.runShard(shard, ch)
	}
	return p, nil
}

// runShard is the goroutine that owns one shard.
func (p *pipeline) runShard(shard *reassembly.Shard, in <-chan *batch) {
	defer p.wg.Done()
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
			if !failed {
				if err := shard.Tick(b.now); err != nil {
					p.fail(err)
					failed = true
				}
			}
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

// dispatch queues one decoded segment for its shard.
func (p *pipeline) dispatch(seg *reassembly.Segment) {
	i := int(seg.Key.Hash() % uint64(len(p.shards)))
	b := p.pending[i]
	if b == nil {
		b = <-p.free
		p.pending[i] = b
	}
	if !b.add(seg) {
		p.send(i)
		b = <-p.free
		p.pending[i] = b
		b.add(seg)
	}
}

func (p *pipeline) send(i int) {
	b := p.pending[i]
	p.pending[i] = nil
	b.now = p.clock
	p.work[i] <- b
}

// finish sends what is pending, lets every shard finish, closes the files.
func (p *pipeline) finish() error {
	for i, b := range p.pending {
		if b != nil {
			p.send(i)
		}
	}
	for _, ch := range p.work {
		close(ch)
	}
	p.wg.Wait()
	err := p.writer.Close()
	if p.err != nil {
		return p.err
	}
	return err
}

// readInput feeds one input through the decoder into the shards.
func (p *pipeline) readInput(ctx context.Context, src capture.Source) error {
	done := ctx.Done()
	var unsupported []capture.LinkType // named once per input
	match := p.matcher(src.Name())
	for n := 0; ; n++ {
		if n&255 == 0 {
			select {
			case <-done:
				return ctx.Err()
			default:
			}
			if p.stop.Load() {
				return nil
			}
		}
		data, info, err := src.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		p.stats.packets++
		if info.Time > p.clock {
			p.clock = info.Time
		}
		if match != nil && info.LinkType.Supported() && !match(data, info) {
			p.stats.filtered++
			continue
		}
		var seg reassembly.Segment
		res := p.dec.Decode(data, info, &seg)
		if res != capture.OK {
			if res == capture.UnsupportedLinkType && !slices.Contains(unsupported, info.LinkType) {
				unsupported = append(unsupported, info.LinkType)
				fmt.Fprintf(p.stderr, "flowcap: %s: %v is not a link type flowcap decodes; its packets are skipped\n", src.Name(), info.LinkType)
			}
			if res != capture.Pending { // a fragment is held, not skipped
				p.stats.skipped[res]++
			}
			continue
		}
		p.stats.tcp++
		p.dispatch(&seg)
	}
}

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
				if !slices.Contains(failed, lt) {
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
func readMain(ctx context.Context, cfg *config, stderr io.Writer) error {
	p, err := newPipeline(cfg, stderr)
	if err != nil {
		return err
	}
	failedInputs := 0
	for _, name := range cfg.inputs {
		if ctx.Err() != nil || p.stop.Load() {
			break
		}
		src, err := capture.Open(name)
		if err != nil {
			fmt.Fprintf(stderr, "flowcap: %v\n", err)
			failedInputs++
			continue
		}
		err = p.readInput(ctx, src)
		src.Close()
		switch {
		case err == nil, errors.Is(err, context.Canceled):
		case errors.Is(err, capture.ErrTruncated):
			fmt.Fprintf(stderr, "flowcap: warning: %v (kept every packet before it)\n", err)
		default:
			fmt.Fprintf(stderr, "flowcap: %v\n", err)
			failedInputs++
		}
	}
	if err := p.finish(); err != nil {
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
	if unsup := p.stats.skipped[capture.UnsupportedLinkType]; unsup > 0 && unsup == p.stats.packets {
		return errors.New("nothing could be decoded: no input has a link type flowcap knows")
	}
	return nil
}

func (p *pipeline) printSummary() {
	var conns, holes uint64
	for _, s := range p.shards {
		st := s.Stats()
		conns += st.Connections
		holes += st.Holes
	}
	ws := p.writer.Stats()
	fmt.Fprintf(p.stderr, "flowcap: %d packets (%d TCP), %d connections, %d flow files, %d bytes written, %d holes",
		p.stats.packets, p.stats.tcp, conns, ws.Files, ws.Bytes, holes)
	ds := p.dec.Stats()
	if ds.Truncated > 0 {
		fmt.Fprintf(p.stderr, ", %d segments cut short by the snaplen", ds.Truncated)
	}
	if ds.Defrag.Datagrams > 0 {
		fmt.Fprintf(p.stderr, ", %d IP datagrams reassembled from fragments", ds.Defrag.Datagrams)
	}
	if lost := ds.Defrag.TimedOut + ds.Defrag.Evicted + uint64(ds.Defrag.InProgress); lost > 0 {
		fmt.Fprintf(p.stderr, ", %d fragmented datagrams never completed", lost)
	}
	if p.stats.filtered > 0 {
		fmt.Fprintf(p.stderr, ", %d filtered out", p.stats.filtered)
	}
	sep := "; skipped:"
	for r, n := range p.stats.skipped {
		if n > 0 {
			fmt.Fprintf(p.stderr, "%s %d %v", sep, n, capture.Result(r))
			sep = ","
		}
	}
	fmt.Fprintln(p.stderr)
}
