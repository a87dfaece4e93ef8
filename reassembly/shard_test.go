package reassembly

import (
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"
	"time"
)

var (
	client = netip.MustParseAddrPort("10.0.0.1:1000")
	server = netip.MustParseAddrPort("10.0.0.2:80")
	c2s    = Key{Src: client, Dst: server}
	s2c    = c2s.Reverse()
)

// pkt is one segment of a scenario, written compactly.
type pkt struct {
	dir   byte // 'c' client to server, 's' server to client
	flags Flags
	seq   Seq
	data  string
	at    time.Duration // capture time; 0 means 1 ms after the previous packet
}

func run(t testing.TB, cfg Config, pkts []pkt) (*memSink, *Shard) {
	t.Helper()
	m := newMemSink()
	sh := NewShard(cfg, m)
	var now int64 = 1e18
	for i, p := range pkts {
		if p.at != 0 {
			now = 1e18 + int64(p.at)
		} else {
			now += int64(time.Millisecond)
		}
		seg := Segment{Key: c2s, Seq: p.seq, Flags: p.flags, Time: now, VLAN: NoVLAN, Payload: []byte(p.data), WireLen: 60, CapLen: 60}
		if p.dir == 's' {
			seg.Key = s2c
		}
		if err := sh.Handle(&seg); err != nil {
			t.Fatalf("packet %d: %v", i, err)
		}
		if err := sh.Tick(now); err != nil {
			t.Fatalf("tick %d: %v", i, err)
		}
	}
	if err := sh.Finish(); err != nil {
		t.Fatal(err)
	}
	return m, sh
}

const (
	A  = ACK
	PA = PSH | ACK
	FA = FIN | ACK
	RA = RST | ACK
	SA = SYN | ACK
)

// handshake opens a connection: client ISN 100, server ISN 500.
var handshake = []pkt{{'c', SYN, 100, "", 0}, {'s', SA, 500, "", 0}, {'c', A, 101, "", 0}}

func with(pkts ...[]pkt) []pkt {
	var out []pkt
	for _, p := range pkts {
		out = append(out, p...)
	}
	return out
}

func TestScenarios(t *testing.T) {
	first := Config{Overlap: FirstWins}
	tests := []struct {
		name  string
		cfg   Config
		pkts  []pkt
		want  map[string]string
		check func(t *testing.T, m *memSink, sh *Shard)
	}{
		{
			name: "in order both ways, FIN closes",
			pkts: with(handshake, []pkt{
				{'c', PA, 101, "GET ", 0}, {'c', PA, 105, "/x\r\n", 0}, {'s', PA, 501, "HTTP/1.0 200", 0},
				{'c', FA, 109, "", 0}, {'s', FA, 513, "", 0},
			}),
			want: map[string]string{"1000-80": "GET /x\r\n", "80-1000": "HTTP/1.0 200"},
			check: func(t *testing.T, m *memSink, sh *Shard) {
				for _, f := range m.closed {
					if f.reason != FINSeen {
						t.Errorf("%v closed by %v, want fin", f.key, f.reason)
					}
				}
				if st := sh.Stats(); st.Connections != 1 || st.Streams != 2 || st.Closed[FINSeen] != 2 {
					t.Errorf("stats %+v", st)
				}
			},
		},
		{
			name: "out of order",
			pkts: with(handshake, []pkt{{'c', PA, 105, "BBBB", 0}, {'c', PA, 113, "DDDD", 0}, {'c', PA, 101, "AAAA", 0}, {'c', PA, 109, "CCCC", 0}}),
			want: map[string]string{"1000-80": "AAAABBBBCCCCDDDD"},
		},
		{
			name: "retransmissions never duplicate",
			pkts: with(handshake, []pkt{
				{'c', PA, 101, "AAAA", 0}, {'c', PA, 105, "BBBB", 0}, {'c', PA, 101, "AAAA", 0},
				{'c', PA, 101, "AAAABBBB", 0}, {'c', PA, 109, "CC", 0}, {'c', PA, 105, "BBBB", 0},
			}),
			want: map[string]string{"1000-80": "AAAABBBBCC"},
			check: func(t *testing.T, m *memSink, sh *Shard) {
				s := m.stream(c2s)
				if s.Retransmitted != 16 || s.Differed != 0 || s.Payload != 26 {
					t.Errorf("retransmitted %d differed %d payload %d", s.Retransmitted, s.Differed, s.Payload)
				}
			},
		},
		{
			name: "overlap, last wins",
			pkts: with(handshake, []pkt{{'c', PA, 101, "AAAAAAAA", 0}, {'c', PA, 103, "xxxx", 0}}),
			want: map[string]string{"1000-80": "AAxxxxAA"},
			check: func(t *testing.T, m *memSink, sh *Shard) {
				if s := m.stream(c2s); s.Retransmitted != 4 || s.Differed != 4 {
					t.Errorf("retransmitted %d differed %d", s.Retransmitted, s.Differed)
				}
			},
		},
		{
			name: "overlap, first wins",
			cfg:  first,
			pkts: with(handshake, []pkt{{'c', PA, 101, "AAAAAAAA", 0}, {'c', PA, 103, "xxxx", 0}}),
			want: map[string]string{"1000-80": "AAAAAAAA"},
		},
		{
			name: "overlap while held, last wins",
			pkts: with(handshake, []pkt{{'c', PA, 105, "BBBBBBBB", 0}, {'c', PA, 107, "yyyyyyyyyy", 0}, {'c', PA, 101, "AAAAAA", 0}}),
			want: map[string]string{"1000-80": "AAAAAAyyyyyyyyyy"},
		},
		{
			name: "overlap while held, first wins",
			cfg:  first,
			pkts: with(handshake, []pkt{{'c', PA, 105, "BBBBBBBB", 0}, {'c', PA, 107, "yyyyyyyyyy", 0}, {'c', PA, 101, "AAAAAA", 0}}),
			want: map[string]string{"1000-80": "AAAABBBBBBBByyyy"},
		},
		{
			name: "hole never filled stays zeros",
			pkts: with(handshake, []pkt{{'c', PA, 101, "AAAA", 0}, {'c', PA, 109, "CCCC", 0}, {'c', PA, 119, "EE", 0}}),
			want: map[string]string{"1000-80": "AAAA\x00\x00\x00\x00CCCC\x00\x00\x00\x00\x00\x00EE"},
			check: func(t *testing.T, m *memSink, sh *Shard) {
				if s := m.stream(c2s); s.Holes != 2 || s.HoleBytes != 10 || s.Size != 20 {
					t.Errorf("holes %d bytes %d size %d", s.Holes, s.HoleBytes, s.Size)
				}
				if st := sh.Stats(); st.Holes != 2 || st.HoleBytes != 10 {
					t.Errorf("stats holes %d bytes %d", st.Holes, st.HoleBytes)
				}
			},
		},
		{
			name: "first data lost after SYN",
			pkts: with(handshake, []pkt{{'c', PA, 105, "BBBB", 0}}),
			want: map[string]string{"1000-80": "\x00\x00\x00\x00BBBB"},
		},
		{
			name: "mid-stream, earlier data arrives later",
			pkts: []pkt{{'c', PA, 1005, "MIDDLE", 0}, {'c', PA, 1011, "LATER", 0}, {'c', PA, 1001, "EARL", 0}},
			want: map[string]string{"1000-80": "EARLMIDDLELATER"},
			check: func(t *testing.T, m *memSink, sh *Shard) {
				s := m.stream(c2s)
				if s.ISN != 1000 || s.Inserts != 1 || s.Size != 15 || s.Holes != 0 {
					t.Errorf("isn %d inserts %d size %d holes %d", s.ISN, s.Inserts, s.Size, s.Holes)
				}
			},
		},
		{
			name: "mid-stream, earlier data shorter than the gap",
			pkts: []pkt{{'c', PA, 1005, "MIDDLE", 0}, {'c', PA, 1001, "EA", 0}},
			want: map[string]string{"1000-80": "EA\x00\x00MIDDLE"},
		},
		{
			name: "data before a SYN's ISN is dropped",
			pkts: with(handshake, []pkt{{'c', PA, 101, "AAAA", 0}, {'c', PA, 90, "old", 0}}),
			want: map[string]string{"1000-80": "AAAA"},
			check: func(t *testing.T, m *memSink, sh *Shard) {
				if s := m.stream(c2s); s.Violations != 1 {
					t.Errorf("violations %d", s.Violations)
				}
			},
		},
		{
			name: "sequence numbers wrap",
			pkts: []pkt{{'c', SYN, 0xfffffff0, "", 0}, {'c', PA, 0xfffffff1, "0123456789abcde", 0}, {'c', PA, 1, "ghij", 0}, {'c', PA, 0, "f", 0}},
			want: map[string]string{"1000-80": "0123456789abcdefghij"},
		},
		{
			name: "keep-alive ignored",
			pkts: with(handshake, []pkt{{'c', PA, 101, "AAAA", 0}, {'c', A, 104, "Z", 0}, {'c', PA, 105, "BBBB", 0}, {'c', A, 108, "Z", 0}}),
			want: map[string]string{"1000-80": "AAAABBBB"},
			check: func(t *testing.T, m *memSink, sh *Shard) {
				if s := m.stream(c2s); s.KeepAlives != 2 {
					t.Errorf("keep-alives %d", s.KeepAlives)
				}
			},
		},
		{
			name: "SYN carrying data",
			pkts: []pkt{{'c', SYN, 100, "TFO", 0}, {'s', SA, 500, "", 0}, {'c', PA, 104, "next", 0}},
			want: map[string]string{"1000-80": "TFOnext"},
			check: func(t *testing.T, m *memSink, sh *Shard) {
				if s := m.stream(c2s); s.Violations != 1 || !s.Client {
					t.Errorf("violations %d client %v", s.Violations, s.Client)
				}
			},
		},
		{
			name: "FIN waits for a hole to fill",
			pkts: with(handshake, []pkt{{'c', PA, 105, "BBBB", 0}, {'c', FA, 109, "", 0}, {'c', PA, 101, "AAAA", 0}, {'c', PA, 101, "late", 0}}),
			// The FIN closed the stream once "AAAA" arrived: "late" is not the
			// stored data, so it opens a new stream (tcpflow: c1).
			want: map[string]string{"1000-80": "AAAABBBB", "1000-80c1": "late"},
		},
		{
			name: "RST closes; a straggler with the same data is ignored",
			pkts: with(handshake, []pkt{{'c', PA, 101, "AAAABBBB", 0}, {'c', RA, 109, "", 0}, {'c', PA, 105, "BBBB", 0}}),
			want: map[string]string{"1000-80": "AAAABBBB"},
			check: func(t *testing.T, m *memSink, sh *Shard) {
				if m.byKey(c2s).reason != RSTSeen || sh.Stats().Stragglers != 1 {
					t.Errorf("reason %v stragglers %d", m.closed[0].reason, sh.Stats().Stragglers)
				}
			},
		},
		{
			name: "port reuse after close is a new file",
			pkts: with(handshake, []pkt{{'c', PA, 101, "one", 0}, {'c', FA, 104, "", 0}, {'s', FA, 501, "", 0},
				{'c', SYN, 9000, "", 0}, {'s', SA, 7000, "", 0}, {'c', PA, 9001, "two", 0}, {'s', PA, 7001, "ok", 0}}),
			want: map[string]string{"1000-80": "one", "1000-80c1": "two", "80-1000": "ok"},
		},
		{
			name: "new SYN while open is a new connection",
			pkts: with(handshake, []pkt{{'c', PA, 101, "old", 0}, {'c', SYN, 100, "", 0}, {'c', PA, 104, "er", 0},
				{'c', SYN, 70000, "", 0}, {'c', PA, 70001, "new", 0}}),
			want: map[string]string{"1000-80": "older", "1000-80c1": "new"},
			check: func(t *testing.T, m *memSink, sh *Shard) {
				if m.byKey(c2s).reason != NewSYN || sh.Stats().SYNIgnored != 1 {
					t.Errorf("reason %v syn ignored %d", m.closed[0].reason, sh.Stats().SYNIgnored)
				}
			},
		},
		{
			name: "retransmitted SYN before data is the same connection",
			pkts: []pkt{{'c', SYN, 100, "", 0}, {'c', SYN, 100, "", 0}, {'c', PA, 101, "data", 0}},
			want: map[string]string{"1000-80": "data"},
		},
		{
			name: "jump beyond the max gap starts a new file",
			pkts: with(handshake, []pkt{{'c', PA, 101, "AAAA", 0}, {'c', PA, 105 + 16<<20 + 1, "BBBB", 0}, {'c', PA, 109 + 16<<20 + 1, "CC", 0}}),
			want: map[string]string{"1000-80": "AAAA", "1000-80c1": "BBBBCC"},
		},
		{
			name: "jump within the max gap is a hole",
			cfg:  Config{MaxGap: 10},
			pkts: with(handshake, []pkt{{'c', PA, 101, "AAAA", 0}, {'c', PA, 115, "BB", 0}, {'c', PA, 128, "CC", 0}}),
			want: map[string]string{"1000-80": "AAAA\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00BB", "1000-80c1": "CC"},
		},
		{
			name: "idle timeout in capture time",
			cfg:  Config{IdleTimeout: int64(time.Minute)},
			pkts: with(handshake, []pkt{{'c', PA, 101, "early", 0}, {'c', PA, 106, "later", 2 * time.Minute}}),
			want: map[string]string{"1000-80": "early", "1000-80c1": "later"},
			check: func(t *testing.T, m *memSink, sh *Shard) {
				if m.closed[0].reason != Timeout && m.closed[1].reason != Timeout {
					t.Errorf("no timeout: %v %v", m.closed[0].reason, m.closed[1].reason)
				}
			},
		},
		{
			name: "no idle timeout by default within an hour",
			pkts: with(handshake, []pkt{{'c', PA, 101, "early", 0}, {'c', PA, 106, "later", 50 * time.Minute}}),
			want: map[string]string{"1000-80": "earlylater"},
		},
		{
			name: "pure ACKs, FINs and RSTs open nothing",
			pkts: []pkt{{'c', A, 101, "", 0}, {'c', FA, 101, "", 0}, {'c', RA, 101, "", 0}, {'s', A, 5, "", 0}},
			want: map[string]string{},
			check: func(t *testing.T, m *memSink, sh *Shard) {
				if st := sh.Stats(); st.Ignored != 4 || st.Streams != 0 {
					t.Errorf("stats %+v", st)
				}
			},
		},
		{
			name: "arrival order without reassembly",
			cfg:  Config{Arrival: true},
			pkts: with(handshake, []pkt{{'c', PA, 105, "BBBB", 0}, {'c', PA, 101, "AAAA", 0}, {'c', PA, 101, "AAAA", 0}, {'c', PA, 113, "DDDD", 0}}),
			want: map[string]string{"1000-80": "BBBBAAAAAAAADDDD"},
			check: func(t *testing.T, m *memSink, sh *Shard) {
				if s := m.stream(c2s); s.Holes != 0 || s.HoleBytes != 0 || sh.Stats().Holes != 0 {
					t.Errorf("%d holes (%d bytes) in a stream of appended payloads", s.Holes, s.HoleBytes)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, sh := run(t, tt.cfg, tt.pkts)
			if got, want := dump(m.files()), dump(tt.want); got != want {
				t.Errorf("files:\n%s\nwant:\n%s", got, want)
			}
			if len(m.open) != 0 {
				t.Errorf("%d streams not closed", len(m.open))
			}
			if st := sh.Stats(); st.Open != 0 || sh.cfg.Pending.Used() != 0 {
				t.Errorf("open %d, pending bytes %d after Finish", st.Open, sh.cfg.Pending.Used())
			}
			if tt.check != nil {
				tt.check(t, m, sh)
			}
		})
	}
}

// The shard never holds more out-of-order data than its limits: past them
// the data is written with a hole before it, and the file is the same.
func TestPendingLimits(t *testing.T) {
	var pkts []pkt
	pkts = append(pkts, pkt{'c', SYN, 0, "", 0})
	// 64 segments of 100 bytes, all but the first, then the first.
	var want strings.Builder
	for i := range 64 {
		want.WriteString(strings.Repeat(string(rune('a'+i%26)), 100))
	}
	for i := 63; i >= 0; i-- {
		pkts = append(pkts, pkt{'c', PA, Seq(1 + 100*i), want.String()[100*i : 100*i+100], 0})
	}
	for _, cfg := range []Config{{}, {MaxPendingStream: 1000}, {Pending: NewBudget(2000)}} {
		m, sh := run(t, cfg, pkts)
		if got := m.files()["1000-80"]; got != want.String() {
			t.Errorf("%+v: file differs (%d bytes)", cfg, len(got))
		}
		if cfg.MaxPendingStream != 0 || cfg.Pending != nil {
			if sh.Stats().Forced == 0 {
				t.Errorf("%+v: never forced", cfg)
			}
		}
	}
}

func TestMaxFlowsEvicts(t *testing.T) {
	m := newMemSink()
	sh := NewShard(Config{MaxFlows: 10}, m)
	for i := range 25 {
		k := Key{Src: netip.AddrPortFrom(client.Addr(), uint16(2000+i)), Dst: server}
		seg := Segment{Key: k, Seq: 1, Flags: PA, Time: int64(i), Payload: []byte("x")}
		if err := sh.Handle(&seg); err != nil {
			t.Fatal(err)
		}
		if n := sh.Stats().Open; n > 10 {
			t.Fatalf("%d streams open", n)
		}
	}
	if err := sh.Finish(); err != nil {
		t.Fatal(err)
	}
	st := sh.Stats()
	if st.Closed[Evicted] != 15 || st.Closed[End] != 10 || len(m.files()) != 25 {
		t.Errorf("evicted %d, end %d, files %d", st.Closed[Evicted], st.Closed[End], len(m.files()))
	}
	// The least recently used went first.
	if m.closed[0].key.Src.Port() != 2000 {
		t.Errorf("first evicted %v", m.closed[0].key)
	}
}

// A stream longer than 4 GiB: sequence numbers wrap more than once, and
// every byte lands at its offset. The sink keeps only the first bytes.
func TestStreamPast4GiB(t *testing.T) {
	m := newMemSink()
	m.limit = 64
	sh := NewShard(Config{}, m)
	payload := make([]byte, 64<<10)
	seg := Segment{Key: c2s, Seq: 0xfffff000, Flags: SYN}
	if err := sh.Handle(&seg); err != nil {
		t.Fatal(err)
	}
	const total = 5 << 30 // 5 GiB
	seq := Seq(0xfffff001)
	for off := int64(0); off < total; off += int64(len(payload)) {
		// Every 1000th segment arrives after the next one.
		seg := Segment{Key: c2s, Seq: seq, Flags: PA, Payload: payload}
		if (off/int64(len(payload)))%1000 == 1 {
			next := Segment{Key: c2s, Seq: seq.Add(int64(len(payload))), Flags: PA, Payload: payload}
			if err := sh.Handle(&next); err != nil {
				t.Fatal(err)
			}
		}
		if err := sh.Handle(&seg); err != nil {
			t.Fatal(err)
		}
		if (off/int64(len(payload)))%1000 == 1 {
			off += int64(len(payload))
			seq = seq.Add(int64(len(payload)))
		}
		seq = seq.Add(int64(len(payload)))
	}
	fin := Segment{Key: c2s, Seq: seq, Flags: FA}
	if err := sh.Handle(&fin); err != nil {
		t.Fatal(err)
	}
	if len(m.closed) != 1 {
		t.Fatalf("%d streams closed, want 1 (the FIN)", len(m.closed))
	}
	f := m.closed[0]
	if f.reason != FINSeen || f.size != total || f.written != total || f.stream.Holes != 0 || f.stream.Size != total {
		t.Errorf("reason %v size %d written %d holes %d stream size %d", f.reason, f.size, f.written, f.stream.Holes, f.stream.Size)
	}
}

func TestHandleDoesNotAllocate(t *testing.T) {
	m := &countSink{}
	sh := NewShard(Config{}, m)
	payload := make([]byte, 1400)
	syn := Segment{Key: c2s, Seq: 0, Flags: SYN}
	if err := sh.Handle(&syn); err != nil {
		t.Fatal(err)
	}
	seq := Seq(1)
	seg := Segment{Key: c2s, Flags: PA, Payload: payload}
	allocs := testing.AllocsPerRun(1000, func() {
		seg.Seq = seq
		seg.Time++
		if err := sh.Handle(&seg); err != nil {
			t.Fatal(err)
		}
		seq = seq.Add(int64(len(payload)))
	})
	if allocs != 0 {
		t.Errorf("%v allocations per in-order segment, want 0", allocs)
	}
	// Out of order, steady state: pairs of segments swapped.
	allocs = testing.AllocsPerRun(1000, func() {
		a := Segment{Key: c2s, Flags: PA, Payload: payload, Seq: seq.Add(int64(len(payload)))}
		b := Segment{Key: c2s, Flags: PA, Payload: payload, Seq: seq}
		if err := sh.Handle(&a); err != nil {
			t.Fatal(err)
		}
		if err := sh.Handle(&b); err != nil {
			t.Fatal(err)
		}
		seq = seq.Add(2 * int64(len(payload)))
	})
	if allocs != 0 {
		t.Errorf("%v allocations per out-of-order pair, want 0", allocs)
	}
}

// countSink counts bytes and keeps nothing.
type countSink struct{ bytes, writes int64 }

func (c *countSink) Write(s *Stream, off int64, p []byte) error {
	c.bytes += int64(len(p))
	c.writes++
	return nil
}
func (c *countSink) Shift(*Stream, int64) error { return nil }
func (c *countSink) Close(*Stream) error        { return nil }

func BenchmarkHandle(b *testing.B) {
	sh := NewShard(Config{}, &countSink{})
	payload := make([]byte, 1400)
	syn := Segment{Key: c2s, Seq: 0, Flags: SYN}
	if err := sh.Handle(&syn); err != nil {
		b.Fatal(err)
	}
	seg := Segment{Key: c2s, Flags: PA, Payload: payload, Seq: 1}
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	for b.Loop() {
		if err := sh.Handle(&seg); err != nil {
			b.Fatal(err)
		}
		seg.Seq = seg.Seq.Add(int64(len(payload)))
	}
}

func BenchmarkHandleOutOfOrder(b *testing.B) {
	sh := NewShard(Config{}, &countSink{})
	payload := make([]byte, 1400)
	syn := Segment{Key: c2s, Seq: 0, Flags: SYN}
	if err := sh.Handle(&syn); err != nil {
		b.Fatal(err)
	}
	seq := Seq(1)
	n := int64(len(payload))
	b.SetBytes(4 * n)
	b.ReportAllocs()
	for b.Loop() {
		// Four segments in the order 2, 4, 3, 1.
		for _, k := range [4]int64{1, 3, 2, 0} {
			seg := Segment{Key: c2s, Flags: PA, Payload: payload, Seq: seq.Add(k * n)}
			if err := sh.Handle(&seg); err != nil {
				b.Fatal(err)
			}
		}
		seq = seq.Add(4 * n)
	}
}

// BenchmarkHandleInterleaved is the shard with as many streams as a busy
// capture has: 20,000, their segments in a random order, so that looking
// a stream up misses the caches as it does for real.
func BenchmarkHandleInterleaved(b *testing.B) {
	const flows = 20000
	sh := NewShard(Config{}, &countSink{})
	keys := make([]Key, flows)
	seqs := make([]Seq, flows)
	for i := range keys {
		keys[i] = Key{Src: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), uint16(1024+i)), Dst: server}
	}
	order := rand.New(rand.NewPCG(1, 2)).Perm(flows)
	payload := make([]byte, 1460)
	next := func(i int) {
		seg := Segment{Key: keys[i], Seq: seqs[i], Flags: PA, Payload: payload}
		if err := sh.Handle(&seg); err != nil {
			b.Fatal(err)
		}
		seqs[i] = seqs[i].Add(int64(len(payload)))
	}
	for i := range flows { // every stream open before the clock starts
		next(i)
	}
	b.SetBytes(int64(len(payload)))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		next(order[n%flows])
		n++
	}
}
