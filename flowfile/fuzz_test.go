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
	in = in[1:]
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
		seg := reassembly.Segment{Key: fuzzKeys[k], Seq: seq, Flags: flags, Time: now, VLAN: int32(k) - 1, Payload: payload}
		if fuzzDebug {
			t.Logf("key %d flags %08b seq %d len %d fill %d t %d", k, flags, seq, n, fill, (now-1e18)/1e6)
		}
		i := int(seg.Key.Hash() % uint64(len(shards)))
		if err := shards[i].Handle(&seg); err != nil {
			t.Fatal(err)
		}
		if err := shards[i].Tick(now); err != nil {
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
