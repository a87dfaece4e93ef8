package flowfile

// The console: flowcap -c prints the streams instead of writing files.
// It lives beside the file writer because it is the same sink in another
// form: tcpflow's console output, its names, its -D hex dump.

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"io"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/flowcap/flowcap/reassembly"
)

// ConsoleFormat is how the console prints a chunk.
type ConsoleFormat uint8

const (
	// ConsoleText prints the bytes, tcpflow -c's way: "NAME: data\n".
	ConsoleText ConsoleFormat = iota
	// ConsoleHex prints tcpflow -D's hex dump: 32 bytes a line.
	ConsoleHex
	// ConsoleJSON prints one JSON object a line, the data in base64.
	ConsoleJSON
)

// ConsoleConfig says what the console prints and how.
type ConsoleConfig struct {
	Out    io.Writer
	Format ConsoleFormat

	// Dir is the output directory (-o): tcpflow puts it and a '/' in
	// front of the names it prints, unless it is "." or empty.
	Dir string

	Raw       bool // ConsoleText: the bytes as they are; else \xNN for all but printable ASCII, \n, \r, \t
	NoHeader  bool // no "NAME: " (tcpflow -C)
	Seq       bool // the header says which sequence numbers the chunk holds
	ChunkTime bool // the capture time in front of each chunk
	LineTime  bool // the capture time in front of each line
	Color     bool // tcpflow -g's colours: blue client to server, red the other way

	// Arrival says the streams are written in capture order
	// (reassembly.Config.Arrival): offsets are not sequence numbers.
	Arrival bool

	MaxBytes int64 // print at most the first MaxBytes of each direction (tcpflow -b); 0 = all
	Shards   int   // number of sinks (one per shard); 0 means 1

	// OnClose, if set, is called for every stream when it closes, with
	// the name of the stream (without Dir; "" if it carried no data) and
	// the bytes printed, from the shards' goroutines (as Config.OnClose).
	OnClose func(st *reassembly.Stream, name string, size int64)
}

// ConsoleStats counts what the console printed.
type ConsoleStats struct {
	Chunks uint64 // records printed
	Bytes  uint64 // stream bytes printed
}

// Console prints the streams of every shard on one writer. Each stream's
// data is printed once, in chunks as it becomes contiguous (held data
// joins the chunk before it only if it arrives in one write): a late
// retransmission prints nothing, and a hole is skipped (the data after it
// comes when reassembly gives up on the hole; data filling it later is
// printed then, as its own chunk).
//
// Chunks are formatted by the shards' goroutines and written, whole, by
// one goroutine of the console, which flushes whenever no chunk waits: a
// chunk never interleaves with another, and with one shard the order is
// the order in which the data became contiguous.
type Console struct {
	cfg    ConsoleConfig
	prefix []byte // Dir and '/' in front of the names

	queue chan []byte // formatted chunks, to the writer goroutine
	free  chan []byte // buffers back from it
	done  chan struct{}
	err   atomic.Pointer[error] // the first write error
	sinks []*consoleSink

	chunks, bytes atomic.Uint64
}

const (
	consoleQueue   = 64      // chunks waiting for the writer: bounds memory, gives backpressure
	consoleKeepBuf = 1 << 20 // larger buffers are not reused
	hexPerLine     = 32
)

// NewConsole starts the console's writer goroutine; Close stops it.
func NewConsole(cfg ConsoleConfig) *Console {
	if cfg.Shards <= 0 {
		cfg.Shards = 1
	}
	c := &Console{
		cfg:   cfg,
		queue: make(chan []byte, consoleQueue),
		free:  make(chan []byte, consoleQueue+cfg.Shards),
		done:  make(chan struct{}),
	}
	if cfg.Dir != "." && cfg.Dir != "" {
		c.prefix = append([]byte(cfg.Dir), '/')
	}
	for range cfg.Shards {
		c.sinks = append(c.sinks, &consoleSink{c: c})
	}
	go c.run()
	return c
}

// Sink returns the sink of shard i; only that shard's goroutine may use it.
func (c *Console) Sink(i int) reassembly.Sink { return c.sinks[i] }

// Close waits until every chunk is written and returns the first error
// writing them. Call it once every shard has finished.
func (c *Console) Close() error {
	close(c.queue)
	<-c.done
	return c.failed()
}

// Stats returns the counters; safe from any goroutine.
func (c *Console) Stats() ConsoleStats {
	return ConsoleStats{Chunks: c.chunks.Load(), Bytes: c.bytes.Load()}
}

func (c *Console) failed() error {
	if p := c.err.Load(); p != nil {
		return *p
	}
	return nil
}

// run writes the chunks in the order they come, flushing when none waits.
func (c *Console) run() {
	defer close(c.done)
	w := bufio.NewWriterSize(c.cfg.Out, 64<<10)
	var err error
	for b := range c.queue {
		if err == nil {
			if _, err = w.Write(b); err == nil && len(c.queue) == 0 {
				err = w.Flush()
			}
			if err != nil {
				c.err.Store(&err)
			}
		}
		if cap(b) <= consoleKeepBuf {
			select {
			case c.free <- b[:0]:
			default:
			}
		}
	}
	if err == nil {
		if err = w.Flush(); err != nil {
			c.err.Store(&err)
		}
	}
}

// consoleSink is the console's reassembly.Sink for one shard.
type consoleSink struct {
	c     *Console
	spare []*conStream // states of closed streams, for reuse
	ts    []byte       // the capture time of the chunk being formatted, and a space
}

// conStream is the console's state of one stream, kept in Stream.Handle.
type conStream struct {
	name    []byte     // prefix and tcpflow name, as headers print it
	jname   []byte     // name as a JSON string
	printed [][2]int64 // offsets printed, sorted, disjoint
	bytes   int64
}

func (k *consoleSink) state(st *reassembly.Stream) *conStream {
	if cs, ok := st.Handle.(*conStream); ok {
		return cs
	}
	var cs *conStream
	if n := len(k.spare); n > 0 {
		cs, k.spare = k.spare[n-1], k.spare[:n-1]
	} else {
		cs = new(conStream)
	}
	cs.name = AppendName(append(cs.name[:0], k.c.prefix...), st.Key, st.VLAN, 0)
	cs.jname = cs.jname[:0]
	if k.c.cfg.Format == ConsoleJSON {
		q, _ := json.Marshal(string(cs.name)) // a string always marshals
		cs.jname = append(cs.jname, q...)
	}
	cs.printed = cs.printed[:0]
	cs.bytes = 0
	st.Handle = cs
	return cs
}

// Write prints the bytes of p not printed before, each run of them as a
// chunk.
func (k *consoleSink) Write(st *reassembly.Stream, off int64, p []byte) error {
	if err := k.c.failed(); err != nil {
		return err
	}
	if m := k.c.cfg.MaxBytes; m > 0 {
		if off >= m {
			return nil
		}
		if off+int64(len(p)) > m {
			p = p[:m-off]
		}
	}
	if len(p) == 0 {
		return nil
	}
	cs := k.state(st)
	end := off + int64(len(p))
	lo := off
	for _, r := range cs.printed {
		if r[1] <= lo {
			continue
		}
		if r[0] >= end {
			break
		}
		if r[0] > lo {
			k.printChunk(st, cs, lo, p[lo-off:r[0]-off])
		}
		lo = max(lo, r[1])
		if lo >= end {
			break
		}
	}
	if lo < end {
		k.printChunk(st, cs, lo, p[lo-off:])
	}
	cs.printed = addRange(cs.printed, off, end)
	return nil
}

// addRange merges [lo, hi) into the sorted, disjoint ranges rs.
func addRange(rs [][2]int64, lo, hi int64) [][2]int64 {
	if n := len(rs); n == 0 || rs[n-1][1] < lo {
		return append(rs, [2]int64{lo, hi}) // the usual case: past the end
	} else if rs[n-1][0] <= lo {
		rs[n-1][1] = max(rs[n-1][1], hi)
		return rs
	}
	i := 0
	for i < len(rs) && rs[i][1] < lo {
		i++
	}
	j := i
	for j < len(rs) && rs[j][0] <= hi {
		lo, hi = min(lo, rs[j][0]), max(hi, rs[j][1])
		j++
	}
	if i == j {
		rs = append(rs, [2]int64{})
		copy(rs[i+1:], rs[i:])
		rs[i] = [2]int64{lo, hi}
		return rs
	}
	rs[i] = [2]int64{lo, hi}
	return append(rs[:i+1], rs[j:]...)
}

// Shift moves what was printed n bytes later: earlier data goes in front.
func (k *consoleSink) Shift(st *reassembly.Stream, n int64) error {
	if cs, ok := st.Handle.(*conStream); ok {
		for i := range cs.printed {
			cs.printed[i][0] += n
			cs.printed[i][1] += n
		}
	}
	return nil
}

// Close tells OnClose and keeps the stream's state for another.
func (k *consoleSink) Close(st *reassembly.Stream) error {
	cs, ok := st.Handle.(*conStream)
	if on := k.c.cfg.OnClose; on != nil {
		if ok {
			on(st, string(cs.name[len(k.c.prefix):]), cs.bytes)
		} else {
			on(st, "", 0)
		}
	}
	if ok {
		st.Handle = nil
		k.spare = append(k.spare, cs)
	}
	return k.c.failed()
}

// printChunk formats one chunk, p at off, and queues it for the writer.
func (k *consoleSink) printChunk(st *reassembly.Stream, cs *conStream, off int64, p []byte) {
	c := k.c
	var b []byte
	select {
	case b = <-c.free:
	default:
		b = make([]byte, 0, 4*len(p)+256)
	}
	cfg := &c.cfg
	k.ts = k.ts[:0]
	if cfg.ChunkTime || cfg.LineTime || cfg.Format == ConsoleJSON {
		k.ts = time.Unix(0, st.Last).UTC().AppendFormat(k.ts, "2006-01-02T15:04:05.000000Z07:00")
	}
	if cfg.Format == ConsoleJSON {
		b = c.appendJSON(b, st, cs, k.ts, off, p)
	} else {
		b = c.appendRecord(b, st, cs, k.ts, off, p)
	}
	cs.bytes += int64(len(p))
	c.chunks.Add(1)
	c.bytes.Add(uint64(len(p)))
	c.queue <- b
}

// Colours of tcpflow -g.
const (
	colorClient = "\033[0;34m" // client to server (the side that sent a SYN without ACK)
	colorOther  = "\033[0;31m"
	colorReset  = "\033[0m"
)

// appendRecord appends one chunk as tcpflow prints a packet: colour, the
// capture time (-T, -t), the header "NAME [seq A:B]: ", the data (a hex
// dump starts on the next line), the colour's end, a newline.
func (c *Console) appendRecord(b []byte, st *reassembly.Stream, cs *conStream, ts []byte, off int64, p []byte) []byte {
	cfg := &c.cfg
	if cfg.Color {
		if st.Client {
			b = append(b, colorClient...)
		} else {
			b = append(b, colorOther...)
		}
	}
	stamp := func(b []byte) []byte { return append(append(b, ts...), ' ') }
	lineStart := true // at the start of an output line, before its time
	if len(ts) > 0 {
		b = stamp(b)
		lineStart = false
	}
	header := false
	if !cfg.NoHeader {
		b = append(b, cs.name...)
		header = true
	}
	if cfg.Seq {
		if header {
			b = append(b, ' ')
		}
		b = c.appendRange(b, st, off, len(p))
		header = true
	}
	if header {
		b = append(b, ": "...)
	}
	lineTime := cfg.LineTime && len(ts) > 0
	if cfg.Format == ConsoleHex {
		if header {
			b = append(b, '\n')
			lineStart = true
		}
		b = appendHex(b, p, func(b []byte) []byte {
			if lineStart && lineTime {
				b = stamp(b)
			}
			lineStart = true
			return b
		})
	} else {
		for i, ch := range p {
			switch {
			case ch == '\n':
				b = append(b, ch)
				if lineTime && i+1 < len(p) {
					b = stamp(b)
				}
			case cfg.Raw, ch >= ' ' && ch <= '~', ch == '\r', ch == '\t':
				b = append(b, ch)
			default:
				b = append(b, '\\', 'x', hexDigits[ch>>4], hexDigits[ch&15])
			}
		}
	}
	if cfg.Color {
		b = append(b, colorReset...)
	}
	return append(b, '\n')
}

const hexDigits = "0123456789abcdef"

// appendRange appends "[seq A:B]", the sequence numbers of the chunk's
// first byte and of the byte after it as tcpdump prints them, or, for
// streams in capture order, "[off A:B]", its offsets.
func (c *Console) appendRange(b []byte, st *reassembly.Stream, off int64, n int) []byte {
	if c.cfg.Arrival {
		b = append(b, "[off "...)
		b = strconv.AppendInt(b, off, 10)
		b = append(b, ':')
		b = strconv.AppendInt(b, off+int64(n), 10)
		return append(b, ']')
	}
	seq := st.ISN.Add(1 + off)
	b = append(b, "[seq "...)
	b = strconv.AppendUint(b, uint64(seq), 10)
	b = append(b, ':')
	b = strconv.AppendUint(b, uint64(seq.Add(int64(n))), 10)
	return append(b, ']')
}

// appendHex appends tcpflow -D's dump of p: per 32 bytes, the offset in
// the chunk (%04x), the bytes in hex by pairs each followed by a space,
// spaces up to the widest line so far, a space, the bytes as ASCII ('.'
// for others), a newline. line is called at the start of each line.
func appendHex(b, p []byte, line func([]byte) []byte) []byte {
	maxWidth := 0
	for i := 0; i < len(p); i += hexPerLine {
		b = line(b)
		start := len(b)
		for d := hexDigitsOf(i); d < 4; d++ {
			b = append(b, '0')
		}
		b = strconv.AppendInt(b, int64(i), 16)
		b = append(b, ": "...)
		row := p[i:min(i+hexPerLine, len(p))]
		for j, ch := range row {
			b = append(b, hexDigits[ch>>4], hexDigits[ch&15])
			if j%2 == 1 {
				b = append(b, ' ')
			}
		}
		width := len(b) - start
		maxWidth = max(maxWidth, width)
		for ; width < maxWidth; width++ {
			b = append(b, ' ')
		}
		b = append(b, ' ')
		for _, ch := range row {
			if ch < ' ' || ch > '~' {
				ch = '.'
			}
			b = append(b, ch)
		}
		b = append(b, '\n')
	}
	return b
}

// hexDigitsOf is the number of hex digits of i (at least 1).
func hexDigitsOf(i int) int {
	d := 1
	for ; i >= 16; i >>= 4 {
		d++
	}
	return d
}

// appendJSON appends one chunk as a JSON object and a newline.
func (c *Console) appendJSON(b []byte, st *reassembly.Stream, cs *conStream, ts []byte, off int64, p []byte) []byte {
	b = append(b, `{"ts":"`...)
	b = append(b, ts...)
	b = append(b, `","flow":`...)
	b = append(b, cs.jname...)
	b = append(b, `,"src_host":"`...)
	b = st.Key.Src.Addr().AppendTo(b)
	b = append(b, `","src_port":`...)
	b = strconv.AppendUint(b, uint64(st.Key.Src.Port()), 10)
	b = append(b, `,"dst_host":"`...)
	b = st.Key.Dst.Addr().AppendTo(b)
	b = append(b, `","dst_port":`...)
	b = strconv.AppendUint(b, uint64(st.Key.Dst.Port()), 10)
	if st.VLAN != reassembly.NoVLAN {
		b = append(b, `,"vlan":`...)
		b = strconv.AppendInt(b, int64(st.VLAN&0xfff), 10)
	}
	b = append(b, `,"offset":`...)
	b = strconv.AppendInt(b, off, 10)
	if !c.cfg.Arrival {
		b = append(b, `,"seq":`...)
		b = strconv.AppendUint(b, uint64(st.ISN.Add(1+off)), 10)
	}
	b = append(b, `,"len":`...)
	b = strconv.AppendInt(b, int64(len(p)), 10)
	b = append(b, `,"data":"`...)
	b = base64.StdEncoding.AppendEncode(b, p)
	return append(b, "\"}\n"...)
}
