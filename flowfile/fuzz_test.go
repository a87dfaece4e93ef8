package flowfile

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/flowcap/flowcap/reassembly"
)

// FuzzReassembly turns bytes into segments on a few keys (arbitrary
// sequence numbers, flags, payloads, times) and runs them through shards
// into a Writer on a temporary directory, with small limits so that every
// path runs: descriptors and buffers recycled, held data flushed early,
// streams evicted, idle, shifted, capped by -b. A tee beside the file sink
// applies every write to an in-memory model; at the end each file must
// hold exactly the model's bytes, be as long as its stream says (no more
// than the data received plus holes of at most MaxGap each), and nothing
// else may be in the directory.
func FuzzReassembly(f *testing.F) {
	for _, seed := range fuzzSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 1 {
			return
		}
		fuzzRun(t, in)
	})
}

const fuzzMaxGap = 1 << 12

var fuzzDebug = os.Getenv("FUZZDEBUG") != ""

var fuzzKeys = [4]reassembly.Key{
	key("10.0.0.1:1000", "10.0.0.2:80"),
	key("10.0.0.2:80", "10.0.0.1:1000"),
	key("[2001:db8::1]:5", "[2001:db8::2]:6"),
	key("[2001:db8::2]:6", "[2001:db8::1]:5"),
}

// A record is 6 bytes: key (2 bits) and length (6 bits), flags, a 16-bit
// sequence step from where the key's previous segment ended (or, with the
// URG flag, a 32-bit jump taking the next bytes too), a time step in ms,
// and a data byte that fills the payload.
func fuzzRun(t *testing.T, in []byte) {
	mode := in[0]
	rcfg := reassembly.Config{MaxGap: fuzzMaxGap, MaxPendingStream: 64, MaxFlows: 3, Linger: 1e9, MaxLinger: 2, MaxShift: 1 << 16, MaxSpans: 4}
	if mode&1 != 0 {
		rcfg.Overlap = reassembly.FirstWins
	}
	if mode&2 != 0 {
		rcfg.IdleTimeout = 50e6 // 50 ms
	}
	if mode&4 != 0 {
		rcfg.Arrival = true
	}
	wcfg := Config{Dir: t.TempDir(), Shards: 2, MaxOpen: 3, MaxBuffer: 200, BufferSize: 64}
	if mode&8 != 0 {
		wcfg.MaxBytes = 50
	}
	if mode&16 != 0 {
		wcfg.BufferSize, wcfg.MaxBuffer = 1<<12, 1<<20
	}
	rcfg.Pending = reassembly.NewBudget(256)
	rcfg.OnEvent = func(s *reassembly.Stream, e reassembly.Event) { checkEvent(t, e) } // -l
	w, err := New(wcfg)
	if err != nil {
		t.Fatal(err)
	}
	tees := make([]*tee, wcfg.Shards)
	shards := make([]*reassembly.Shard, wcfg.Shards)
	for i := range shards {
		tees[i] = &tee{real: w.Sink(i), maxBytes: wcfg.MaxBytes}
		c := rcfg
		c.Index, c.Count = i, wcfg.Shards
		shards[i] = reassembly.NewShard(c, tees[i])
	}
	for _, seg := range fuzzSegments(in) {
		if fuzzDebug {
			t.Logf("key %v flags %08b seq %d len %d t %d", seg.Key, seg.Flags, seg.Seq, len(seg.Payload), (seg.Time-1e18)/1e6)
		}
		i := int(seg.Key.Hash() % uint64(len(shards)))
		if err := shards[i].Handle(&seg); err != nil {
			t.Fatal(err)
		}
		if err := shards[i].Tick(seg.Time); err != nil {
			t.Fatal(err)
		}
	}
	for _, sh := range shards {
		if err := sh.Finish(); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	fuzzNeutral(t, in, mode)

	want := map[string]*model{}
	for _, te := range tees {
		for _, m := range te.closed {
			if m.name == "" {
				if m.wrote {
					t.Fatalf("stream %v written but no file", m.key)
				}
				continue
			}
			if want[m.name] != nil {
				t.Fatalf("two streams wrote %s", m.name)
			}
			want[m.name] = m
		}
	}
	entries, err := os.ReadDir(wcfg.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(want) {
		t.Fatalf("%d files, %d streams with files", len(entries), len(want))
	}
	for name, m := range want {
		got, err := os.ReadFile(filepath.Join(wcfg.Dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != string(m.data) {
			t.Fatalf("%s: %q, model %q", name, got, m.data)
		}
		// Past -b a file ends at its last byte written, maybe before the cap.
		if n := int64(len(got)); n != m.size && (wcfg.MaxBytes == 0 || n > min(m.size, wcfg.MaxBytes)) {
			t.Fatalf("%s: %d bytes, stream size %d", name, len(got), m.size)
		}
		if m.size-int64(m.holeBytes) > int64(m.payload) || m.holeBytes > m.holes*fuzzMaxGap {
			t.Fatalf("%s: size %d, payload %d, %d holes of %d bytes", name, m.size, m.payload, m.holes, m.holeBytes)
		}
	}
}

// tee passes everything to the file sink and keeps a model of each stream.
type tee struct {
	real     reassembly.Sink
	maxBytes int64
	open     map[*reassembly.Stream]*model
	closed   []*model
}

type model struct {
	key       reassembly.Key
	name      string
	data      []byte
	wrote     bool
	size      int64
	payload   uint64
	holes     uint64
	holeBytes uint64
}

func (te *tee) model(s *reassembly.Stream) *model {
	if te.open == nil {
		te.open = map[*reassembly.Stream]*model{}
	}
	m := te.open[s]
	if m == nil {
		m = &model{key: s.Key}
		te.open[s] = m
	}
	return m
}

func (te *tee) Write(s *reassembly.Stream, off int64, p []byte) error {
	if off < 0 {
		return fmt.Errorf("write at %d", off)
	}
	m := te.model(s)
	m.wrote = true
	end := off + int64(len(p))
	if te.maxBytes > 0 {
		end = min(end, te.maxBytes)
	}
	if end > off {
		if int64(len(m.data)) < end {
			m.data = append(m.data, make([]byte, end-int64(len(m.data)))...)
		}
		copy(m.data[off:end], p)
	}
	return te.real.Write(s, off, p)
}

func (te *tee) Shift(s *reassembly.Stream, n int64) error {
	m := te.model(s)
	if len(m.data) > 0 {
		m.data = append(make([]byte, n), m.data...)
		if te.maxBytes > 0 && int64(len(m.data)) > te.maxBytes {
			m.data = m.data[:te.maxBytes]
		}
	}
	return te.real.Shift(s, n)
}

func (te *tee) Close(s *reassembly.Stream) error {
	m := te.model(s)
	delete(te.open, s)
	err := te.real.Close(s)
	m.name = FileName(s)
	m.size, m.payload, m.holes, m.holeBytes = s.Size, s.Payload, s.Holes, s.HoleBytes
	if fuzzDebug {
		fmt.Printf("close %v %v isn %d size %d name %q data %d\n", s.Key, s.Reason, s.ISN, s.Size, m.name, len(m.data))
	}
	te.closed = append(te.closed, m)
	return err
}

func (te *tee) Check(s *reassembly.Stream, off int64, p []byte) (int, int, error) {
	return te.real.(reassembly.Checker).Check(s, off, p)
}

// fuzzSeeds encodes scenarios like those of the other tests.
func fuzzSeeds() [][]byte {
	type r struct {
		key   byte
		flags reassembly.Flags
		step  int16
		data  string
		ms    byte
	}
	enc := func(mode byte, rs ...r) []byte {
		b := []byte{mode}
		for _, x := range rs {
			fill := byte(0)
			if len(x.data) > 0 {
				fill = x.data[0]
			}
			b = append(b, x.key<<6|byte(len(x.data)&63), byte(x.flags), 0, 0, x.ms, fill)
			binary.BigEndian.PutUint16(b[len(b)-4:], uint16(x.step))
		}
		return b
	}
	var seeds [][]byte
	hs := []r{{0, syn, 0, "", 1}, {1, sa, 0, "", 1}}
	for mode := range byte(32) {
		seeds = append(seeds,
			// in order, out of order, FIN
			enc(mode, append(hs, r{0, pa, 1, "AAAA", 1}, r{0, pa, 4, "CCCC", 1}, r{0, pa, -8, "BBBB", 1}, r{1, pa, 1, "ok", 1}, r{0, fa, 4, "", 1})...),
			// overlap, retransmission, keep-alive, hole
			enc(mode, append(hs, r{0, pa, 1, "AAAAAAAA", 1}, r{0, pa, -6, "xxxx", 1}, r{0, pa, 2, "yy", 1}, r{0, reassembly.ACK, -1, "Z", 1}, r{0, pa, 10, "tail", 1})...),
			// SYN-less, earlier data later; jump; RST
			enc(mode, r{2, pa, 100, "MIDDLE", 1}, r{2, pa, -12, "EARLY", 1}, r{2, pa, 5000, "far", 1}, r{3, pa, 0, "v6", 200}, r{2, reassembly.RST, 0, "", 1}, r{2, pa, 0, "again", 1}),
			// port reuse, new SYN while open, idle
			enc(mode, append(hs, r{0, pa, 1, "one", 1}, r{0, syn, 1000, "", 1}, r{0, pa, 1, "two", 100}, r{0, fa, 0, "", 1}, r{0, syn, 9, "", 1}, r{0, pa, 1, "three", 1})...),
		)
	}
	return seeds
}

// fuzzSegments decodes the records after the mode byte.
func fuzzSegments(in []byte) []reassembly.Segment {
	in = in[1:]
	var segs []reassembly.Segment
	var next [4]reassembly.Seq
	now := int64(1e18)
	for len(in) >= 6 {
		k := in[0] >> 6
		n := int(in[0] & 63)
		flags := reassembly.Flags(in[1])
		seq := next[k].Add(int64(int16(binary.BigEndian.Uint16(in[2:]))))
		now += int64(in[4]) * 1e6
		fill := in[5]
		in = in[6:]
		if flags.Has(reassembly.URG) && len(in) >= 4 {
			seq = reassembly.Seq(binary.BigEndian.Uint32(in))
			in = in[4:]
		}
		payload := make([]byte, n)
		for i := range payload {
			payload[i] = fill + byte(i)
		}
		next[k] = seq.Add(int64(n))
		segs = append(segs, reassembly.Segment{Key: fuzzKeys[k], Seq: seq, Flags: flags, Time: now, VLAN: int32(k) - 1, Payload: payload})
	}
	return segs
}

// fuzzNeutral checks that holding out-of-order data changes nothing: the
// streams come out the same with tiny hold limits on two shards as with
// ample ones on one.
func fuzzNeutral(t *testing.T, in []byte, mode byte) {
	run := func(n int, small bool) map[reassembly.Key][]string {
		cfg := reassembly.Config{MaxGap: fuzzMaxGap, Linger: 1e9, MaxShift: 1 << 16}
		if mode&1 != 0 {
			cfg.Overlap = reassembly.FirstWins
		}
		if mode&2 != 0 {
			cfg.IdleTimeout = 50e6
		}
		cfg.Pending = reassembly.NewBudget(1 << 30)
		if small {
			cfg.MaxPendingStream, cfg.Pending = 1, reassembly.NewBudget(1)
		}
		sink := &memModel{open: map[*reassembly.Stream][]byte{}, out: map[reassembly.Key][]string{}}
		shards := make([]*reassembly.Shard, n)
		for i := range shards {
			c := cfg
			c.Index, c.Count = i, n
			shards[i] = reassembly.NewShard(c, sink)
		}
		for _, seg := range fuzzSegments(in) {
			sh := shards[seg.Key.Hash()%uint64(n)]
			if err := sh.Handle(&seg); err != nil {
				t.Fatal(err)
			}
			if err := sh.Tick(seg.Time); err != nil {
				t.Fatal(err)
			}
		}
		for _, sh := range shards {
			if err := sh.Finish(); err != nil {
				t.Fatal(err)
			}
		}
		return sink.out
	}
	a, b := run(2, true), run(1, false)
	if fmt.Sprint(a) != fmt.Sprint(b) {
		t.Fatalf("held data changed the streams:\n%q\n%q", a, b)
	}
}

// memModel is a Sink keeping each stream in memory, written as a file is.
type memModel struct {
	open map[*reassembly.Stream][]byte
	out  map[reassembly.Key][]string
}

func (m *memModel) Write(s *reassembly.Stream, off int64, p []byte) error {
	d := m.open[s]
	if end := off + int64(len(p)); int64(len(d)) < end {
		d = append(d, make([]byte, end-int64(len(d)))...)
	}
	copy(d[off:], p)
	m.open[s] = d
	s.Handle = m
	return nil
}

func (m *memModel) Shift(s *reassembly.Stream, n int64) error {
	if d := m.open[s]; len(d) > 0 {
		m.open[s] = append(make([]byte, n), d...)
	}
	return nil
}

func (m *memModel) Close(s *reassembly.Stream) error {
	d, ok := m.open[s]
	delete(m.open, s)
	if ok {
		m.out[s.Key] = append(m.out[s.Key], string(d))
		s.Handle = d // for Check after Close
	}
	return nil
}

func (m *memModel) Check(s *reassembly.Stream, off int64, p []byte) (held, differ int, err error) {
	d, ok := s.Handle.([]byte)
	if !ok {
		d = m.open[s]
	}
	for i := range p {
		if off+int64(i) >= int64(len(d)) {
			break
		}
		held++
		if d[off+int64(i)] != p[i] {
			differ++
		}
	}
	return held, differ, nil
}

// checkEvent fails t if an event of -l contradicts itself.
func checkEvent(t *testing.T, e reassembly.Event) {
	ok := e.Len > 0 && e.Off >= 0 && 0 <= e.Unchecked && e.Unchecked <= e.Seen && e.Seen <= e.Len && e.Differ <= e.Seen-e.Unchecked
	switch e.Kind {
	case reassembly.EventRetransmission:
		ok = ok && e.Seen == e.Len && e.Differ == 0
	case reassembly.EventOverlap:
		ok = ok && e.Seen > 0 && (e.Seen < e.Len || e.Differ > 0)
	case reassembly.EventOutOfOrder:
		ok = ok && e.Seen == 0
	default:
		ok = false
	}
	if !ok {
		t.Fatalf("event %+v", e)
	}
}
