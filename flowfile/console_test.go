package flowfile

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowcap/flowcap/reassembly"
)

// printConsole runs pkts through one shard into a Console and returns
// what it printed. Packet i has capture time t0 + i ms.
func printConsole(t testing.TB, cfg ConsoleConfig, rcfg reassembly.Config, vlan int32, pkts []pkt) string {
	t.Helper()
	var out bytes.Buffer
	cfg.Out = &out
	c := NewConsole(cfg)
	sh := reassembly.NewShard(rcfg, c.Sink(0))
	for i, p := range pkts {
		seg := reassembly.Segment{Key: p.key, Seq: p.seq, Flags: p.flags, VLAN: vlan, Time: t0.Add(time.Duration(i) * time.Millisecond).UnixNano(), Payload: []byte(p.data)}
		if err := sh.Handle(&seg); err != nil {
			t.Fatal(err)
		}
	}
	if err := sh.Finish(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// A short exchange: the client (SYN without ACK: blue) asks, the server answers.
var exchange = []pkt{
	{c2s, syn, 100, ""},
	{s2c, sa, 500, ""},
	{c2s, pa, 101, "GET /\r\n\r\n"},
	{s2c, pa, 501, "HTTP/1.0 200 OK\r\n\r\nline1\nline2\n"},
	{s2c, pa, 532, "\x00\x7f\xff\t\\x"},
}

func TestConsoleFormats(t *testing.T) {
	const (
		t2 = "2024-03-01T12:00:00.125456Z"
		t3 = "2024-03-01T12:00:00.126456Z"
		t4 = "2024-03-01T12:00:00.127456Z"
	)
	tests := []struct {
		name string
		cfg  ConsoleConfig
		pkts []pkt
		want string
	}{
		{
			name: "tcpflow -c, non-printables escaped",
			want: cliName + ": GET /\r\n\r\n\n" +
				srvName + ": HTTP/1.0 200 OK\r\n\r\nline1\nline2\n\n" +
				srvName + `: \x00\x7f\xff` + "\t\\x\n",
		},
		{
			name: "raw",
			cfg:  ConsoleConfig{Raw: true},
			pkts: exchange[4:],
			want: srvName + ": \x00\x7f\xff\t\\x\n",
		},
		{
			name: "no header",
			cfg:  ConsoleConfig{NoHeader: true},
			pkts: exchange[:3],
			want: "GET /\r\n\r\n\n",
		},
		{
			name: "sequence numbers",
			cfg:  ConsoleConfig{Seq: true},
			pkts: exchange[:3],
			want: cliName + " [seq 101:110]: GET /\r\n\r\n\n",
		},
		{
			name: "sequence numbers, no name",
			cfg:  ConsoleConfig{Seq: true, NoHeader: true},
			pkts: exchange[:3],
			want: "[seq 101:110]: GET /\r\n\r\n\n",
		},
		{
			name: "sequence numbers wrap",
			cfg:  ConsoleConfig{Seq: true, NoHeader: true},
			pkts: []pkt{{c2s, syn, 0xfffffffd, ""}, {c2s, pa, 0xfffffffe, "abcd"}},
			want: "[seq 4294967294:2]: abcd\n",
		},
		{
			name: "offsets in capture order",
			cfg:  ConsoleConfig{Seq: true, NoHeader: true, Arrival: true},
			pkts: []pkt{{c2s, syn, 100, ""}, {c2s, pa, 105, "BBBB"}, {c2s, pa, 101, "AAAA"}},
			want: "[off 0:4]: BBBB\n[off 4:8]: AAAA\n",
		},
		{
			name: "time of each chunk",
			cfg:  ConsoleConfig{ChunkTime: true},
			pkts: exchange[:4],
			want: t2 + " " + cliName + ": GET /\r\n\r\n\n" +
				t3 + " " + srvName + ": HTTP/1.0 200 OK\r\n\r\nline1\nline2\n\n",
		},
		{
			name: "time of each line",
			cfg:  ConsoleConfig{LineTime: true, NoHeader: true},
			pkts: exchange[:4],
			want: t2 + " GET /\r\n" + t2 + " \r\n\n" +
				t3 + " HTTP/1.0 200 OK\r\n" + t3 + " \r\n" + t3 + " line1\n" + t3 + " line2\n\n",
		},
		{
			name: "colours: client blue, server red",
			cfg:  ConsoleConfig{Color: true},
			pkts: exchange[:4],
			want: "\033[0;34m" + cliName + ": GET /\r\n\r\n\033[0m\n" +
				"\033[0;31m" + srvName + ": HTTP/1.0 200 OK\r\n\r\nline1\nline2\n\033[0m\n",
		},
		{
			name: "output directory in front of names",
			cfg:  ConsoleConfig{Dir: "out/x"},
			pkts: exchange[:3],
			want: "out/x/" + cliName + ": GET /\r\n\r\n\n",
		},
		{
			name: "no prefix for the current directory",
			cfg:  ConsoleConfig{Dir: "."},
			pkts: exchange[:3],
			want: cliName + ": GET /\r\n\r\n\n",
		},
		{
			name: "at most MaxBytes per direction",
			cfg:  ConsoleConfig{MaxBytes: 5, NoHeader: true},
			pkts: []pkt{{c2s, pa, 1, "abc"}, {c2s, pa, 4, "defg"}, {c2s, pa, 8, "hij"}},
			want: "abc\nde\n",
		},
		{
			name: "hex dump",
			cfg:  ConsoleConfig{Format: ConsoleHex},
			pkts: []pkt{{c2s, pa, 1, "GET /hello.txt HTTP/1.1\r\nHost: 127.0.0.1:8000\r\n"}},
			want: cliName + ": \n" +
				"0000: 4745 5420 2f68 656c 6c6f 2e74 7874 2048 5454 502f 312e 310d 0a48 6f73 743a 2031  GET /hello.txt HTTP/1.1..Host: 1\n" +
				"0020: 3237 2e30 2e30 2e31 3a38 3030 300d 0a                                            27.0.0.1:8000..\n" +
				"\n",
		},
		{
			name: "hex dump, odd length, time of each line, no header",
			cfg:  ConsoleConfig{Format: ConsoleHex, NoHeader: true, LineTime: true},
			pkts: []pkt{{c2s, pa, 1, strings.Repeat("a", 33)}},
			want: "2024-03-01T12:00:00.123456Z 0000: " + strings.Repeat("6161 ", 16) + " " + strings.Repeat("a", 32) + "\n" +
				"2024-03-01T12:00:00.123456Z 0020: 61" + strings.Repeat(" ", 80-2) + " a\n\n",
		},
		{
			name: "json",
			cfg:  ConsoleConfig{Format: ConsoleJSON, Dir: `o"1`},
			pkts: exchange[:3],
			want: `{"ts":"` + t2 + `","flow":"o\"1/` + cliName + `","src_host":"10.0.0.1","src_port":1000,"dst_host":"10.0.0.2","dst_port":80,` +
				`"offset":0,"seq":101,"len":9,"data":"` + base64.StdEncoding.EncodeToString([]byte("GET /\r\n\r\n")) + `"}` + "\n",
		},
		{
			name: "json, IPv6",
			cfg:  ConsoleConfig{Format: ConsoleJSON},
			pkts: []pkt{{key("[2001:db8::1]:40000", "[2001:db8::2]:443"), pa, 7, "hi"}},
			want: `{"ts":"2024-03-01T12:00:00.123456Z","flow":"2001:db8::1.40000-2001:db8::2.00443","src_host":"2001:db8::1","src_port":40000,` +
				`"dst_host":"2001:db8::2","dst_port":443,"offset":0,"seq":7,"len":2,"data":"aGk="}` + "\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pkts := tt.pkts
			if pkts == nil {
				pkts = exchange
			}
			got := printConsole(t, tt.cfg, reassembly.Config{Arrival: tt.cfg.Arrival}, reassembly.NoVLAN, pkts)
			if got != tt.want {
				t.Errorf("got\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

// TestConsoleJSONVLAN: the JSON object has the VLAN ID (12 bits), the
// name the raw tag as tcpflow's.
func TestConsoleJSONVLAN(t *testing.T) {
	got := printConsole(t, ConsoleConfig{Format: ConsoleJSON}, reassembly.Config{}, 5<<13|10, []pkt{{c2s, pa, 1, "x"}})
	var obj struct {
		Flow string
		VLAN int
	}
	if err := json.Unmarshal([]byte(got), &obj); err != nil {
		t.Fatal(err)
	}
	if obj.Flow != cliName+"--40970" || obj.VLAN != 10 {
		t.Errorf("flow %q vlan %d", obj.Flow, obj.VLAN)
	}
}

// TestConsoleOnce: whatever the order segments come in, each byte of a
// stream is printed once, in chunks as it becomes contiguous; a
// retransmission prints nothing, data filling a hole late prints then.
func TestConsoleOnce(t *testing.T) {
	cfg := ConsoleConfig{Seq: true, NoHeader: true}
	tests := []struct {
		name string
		rcfg reassembly.Config
		pkts []pkt
		want string
	}{
		{
			name: "out of order: held until contiguous",
			pkts: []pkt{{c2s, syn, 0, ""}, {c2s, pa, 5, "BBBB"}, {c2s, pa, 9, "CCCC"}, {c2s, pa, 1, "AAAA"}},
			want: "[seq 1:5]: AAAA\n[seq 5:9]: BBBB\n[seq 9:13]: CCCC\n",
		},
		{
			name: "retransmissions and overlaps print nothing again",
			pkts: []pkt{{c2s, syn, 0, ""}, {c2s, pa, 1, "AAAA"}, {c2s, pa, 1, "AAAA"}, {c2s, pa, 3, "xxBB"}, {c2s, pa, 1, "zzzzzzCC"}},
			want: "[seq 1:5]: AAAA\n[seq 5:7]: BB\n[seq 7:9]: CC\n",
		},
		{
			name: "a hole given up, then filled",
			rcfg: reassembly.Config{MaxPendingStream: 1}, // held data is written at once
			pkts: []pkt{{c2s, syn, 0, ""}, {c2s, pa, 1, "AA"}, {c2s, pa, 5, "CC"}, {c2s, pa, 3, "BB"}, {c2s, pa, 1, "AAB"}},
			want: "[seq 1:3]: AA\n[seq 5:7]: CC\n[seq 3:5]: BB\n",
		},
		{
			name: "SYN-less stream: earlier data inserted in front",
			pkts: []pkt{{c2s, pa, 105, "LATE"}, {c2s, pa, 101, "EARL"}, {c2s, pa, 105, "LATE"}},
			want: "[seq 105:109]: LATE\n[seq 101:105]: EARL\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := printConsole(t, cfg, tt.rcfg, reassembly.NoVLAN, tt.pkts); got != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestAddRange(t *testing.T) {
	tests := []struct {
		rs     [][2]int64
		lo, hi int64
		want   [][2]int64
	}{
		{nil, 0, 4, [][2]int64{{0, 4}}},
		{[][2]int64{{0, 4}}, 4, 8, [][2]int64{{0, 8}}},
		{[][2]int64{{0, 4}}, 6, 8, [][2]int64{{0, 4}, {6, 8}}},
		{[][2]int64{{0, 4}, {6, 8}}, 4, 6, [][2]int64{{0, 8}}},
		{[][2]int64{{0, 4}, {6, 8}, {10, 12}}, 3, 11, [][2]int64{{0, 12}}},
		{[][2]int64{{2, 4}, {10, 12}}, 0, 1, [][2]int64{{0, 1}, {2, 4}, {10, 12}}},
		{[][2]int64{{2, 4}, {10, 12}}, 5, 6, [][2]int64{{2, 4}, {5, 6}, {10, 12}}},
		{[][2]int64{{2, 4}, {10, 12}}, 1, 3, [][2]int64{{1, 4}, {10, 12}}},
		{[][2]int64{{2, 4}, {10, 12}}, 11, 20, [][2]int64{{2, 4}, {10, 20}}},
	}
	for _, tt := range tests {
		got := addRange(slices.Clone(tt.rs), tt.lo, tt.hi)
		if !slices.Equal(got, tt.want) {
			t.Errorf("addRange(%v, %d, %d) = %v, want %v", tt.rs, tt.lo, tt.hi, got, tt.want)
		}
	}
}

// TestConsoleConcurrent: chunks from many shards at once come out whole,
// and all of them.
func TestConsoleConcurrent(t *testing.T) {
	const shards, conns, segs = 4, 20, 50
	var out bytes.Buffer
	c := NewConsole(ConsoleConfig{Out: &out, Format: ConsoleJSON, Shards: shards})
	var wg sync.WaitGroup
	for i := range shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sh := reassembly.NewShard(reassembly.Config{}, c.Sink(i))
			for j := range conns {
				k := key(fmt.Sprintf("10.0.%d.%d:1000", i, j), "10.1.0.1:80")
				for s := range segs {
					seg := reassembly.Segment{Key: k, Seq: reassembly.Seq(1 + 100*s), Flags: pa, VLAN: reassembly.NoVLAN, Payload: bytes.Repeat([]byte{byte(s)}, 100)}
					if err := sh.Handle(&seg); err != nil {
						t.Error(err)
						return
					}
				}
			}
			if err := sh.Finish(); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != shards*conns*segs {
		t.Fatalf("%d lines, want %d", len(lines), shards*conns*segs)
	}
	next := map[string]int64{}
	for _, l := range lines {
		var obj struct {
			Flow   string
			Offset int64
			Data   []byte
		}
		if err := json.Unmarshal([]byte(l), &obj); err != nil {
			t.Fatalf("%v: %q", err, l)
		}
		if obj.Offset != next[obj.Flow] || len(obj.Data) != 100 || obj.Data[0] != byte(obj.Offset/100) {
			t.Fatalf("chunk at %d of %s (%d bytes), want %d", obj.Offset, obj.Flow, len(obj.Data), next[obj.Flow])
		}
		next[obj.Flow] += 100
	}
	if st := c.Stats(); st.Chunks != uint64(len(lines)) || st.Bytes != uint64(100*len(lines)) {
		t.Errorf("stats %+v", st)
	}
}

// TestConsoleWriteError: a failing output stops the shard with its error.
func TestConsoleWriteError(t *testing.T) {
	c := NewConsole(ConsoleConfig{Out: failWriter{}})
	sh := reassembly.NewShard(reassembly.Config{}, c.Sink(0))
	var err error
	for i := 0; i < 1000 && err == nil; i++ {
		seg := reassembly.Segment{Key: c2s, Seq: reassembly.Seq(1 + 10*i), Flags: pa, Payload: make([]byte, 10)}
		err = sh.Handle(&seg)
		time.Sleep(time.Millisecond)
	}
	if !errors.Is(err, errFull) {
		t.Errorf("Handle: %v, want %v", err, errFull)
	}
	if err := c.Close(); !errors.Is(err, errFull) {
		t.Errorf("Close: %v, want %v", err, errFull)
	}
}

var errFull = errors.New("no space left")

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errFull }

// TestConsoleOnClose: OnClose hears of every stream, with its name (no
// directory) and the bytes printed; "" for a stream without data.
func TestConsoleOnClose(t *testing.T) {
	var got []string
	cfg := ConsoleConfig{Dir: "out", OnClose: func(st *reassembly.Stream, name string, size int64) {
		got = append(got, fmt.Sprintf("%q %d", name, size))
	}}
	printConsole(t, cfg, reassembly.Config{}, reassembly.NoVLAN, exchange[:3])
	want := []string{`"` + cliName + `" 9`, `"" 0`}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Errorf("closed %q, want %q", got, want)
	}
}

func BenchmarkConsole(b *testing.B) {
	for _, f := range []struct {
		name string
		cfg  ConsoleConfig
	}{{"text", ConsoleConfig{}}, {"hex", ConsoleConfig{Format: ConsoleHex}}, {"json", ConsoleConfig{Format: ConsoleJSON}}} {
		b.Run(f.name, func(b *testing.B) {
			cfg := f.cfg
			cfg.Out = discard{}
			c := NewConsole(cfg)
			sh := reassembly.NewShard(reassembly.Config{}, c.Sink(0))
			payload := bytes.Repeat([]byte("GET / HTTP/1.1\r\n\x00\x01"), 80)
			seg := reassembly.Segment{Key: c2s, Flags: pa, Payload: payload, Seq: 1}
			b.SetBytes(int64(len(payload)))
			b.ReportAllocs()
			for b.Loop() {
				if err := sh.Handle(&seg); err != nil {
					b.Fatal(err)
				}
				seg.Seq = seg.Seq.Add(int64(len(payload)))
			}
			c.Close()
		})
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// FuzzConsole runs FuzzReassembly's segments through a Console: whatever
// the order, overlaps and limits, each byte a stream was given is printed
// exactly once (the bytes printed add up to the ranges written, -b applied).
func FuzzConsole(f *testing.F) {
	for _, seed := range fuzzSeeds() {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 1 {
			return
		}
		mode := in[0]
		rcfg := reassembly.Config{MaxGap: fuzzMaxGap, MaxPendingStream: 64, MaxFlows: 3, MaxShift: 1 << 16, MaxSpans: 4, Pending: reassembly.NewBudget(256)}
		if mode&1 != 0 {
			rcfg.Overlap = reassembly.FirstWins
		}
		if mode&4 != 0 {
			rcfg.Arrival = true
		}
		ccfg := ConsoleConfig{Out: discard{}, Format: ConsoleFormat(mode >> 5 % 3), Seq: true}
		if mode&8 != 0 {
			ccfg.MaxBytes = 50
		}
		c := NewConsole(ccfg)
		rec := &rangeSink{real: c.Sink(0), maxBytes: ccfg.MaxBytes, open: map[*reassembly.Stream]*[][2]int64{}}
		sh := reassembly.NewShard(rcfg, rec)
		for _, seg := range fuzzSegments(in) {
			if err := sh.Handle(&seg); err != nil {
				t.Fatal(err)
			}
		}
		if err := sh.Finish(); err != nil {
			t.Fatal(err)
		}
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
		if got := c.Stats().Bytes; got != rec.bytes {
			t.Fatalf("%d bytes printed, %d bytes written", got, rec.bytes)
		}
	})
}

// rangeSink passes writes on and counts the bytes of the ranges written to
// each stream (with -b's cap), moved as Shift moves them.
type rangeSink struct {
	real     reassembly.Sink
	maxBytes int64
	open     map[*reassembly.Stream]*[][2]int64
	bytes    uint64
}

func (r *rangeSink) Write(s *reassembly.Stream, off int64, p []byte) error {
	rs := r.open[s]
	if rs == nil {
		rs = new([][2]int64)
		r.open[s] = rs
	}
	end := off + int64(len(p))
	if r.maxBytes > 0 {
		end = min(end, r.maxBytes)
	}
	if off < end {
		*rs = addRange(*rs, off, end)
	}
	return r.real.Write(s, off, p)
}

func (r *rangeSink) Shift(s *reassembly.Stream, n int64) error {
	if rs := r.open[s]; rs != nil {
		for i := range *rs {
			(*rs)[i][0] += n
			(*rs)[i][1] += n
		}
	}
	return r.real.Shift(s, n)
}

func (r *rangeSink) Close(s *reassembly.Stream) error {
	if rs := r.open[s]; rs != nil {
		for _, x := range *rs {
			r.bytes += uint64(x[1] - x[0])
		}
		delete(r.open, s)
	}
	return r.real.Close(s)
}
