package flowfile

import (
	"bytes"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/flowcap/flowcap/reassembly"
)

const (
	cli     = "10.0.0.1:1000"
	srv     = "10.0.0.2:80"
	cliName = "010.000.000.001.01000-010.000.000.002.00080"
	srvName = "010.000.000.002.00080-010.000.000.001.01000"
)

var (
	c2s = key(cli, srv)
	s2c = c2s.Reverse()
	t0  = time.Date(2024, 3, 1, 12, 0, 0, 123456000, time.UTC)
)

// pkt is one segment of a scenario.
type pkt struct {
	key   reassembly.Key
	flags reassembly.Flags
	seq   reassembly.Seq
	data  string
}

const (
	syn = reassembly.SYN
	pa  = reassembly.PSH | reassembly.ACK
	fa  = reassembly.FIN | reassembly.ACK
	sa  = reassembly.SYN | reassembly.ACK
)

// feed runs pkts through one shard into a Writer on dir and closes both.
func feed(t testing.TB, cfg Config, rcfg reassembly.Config, vlan int32, pkts []pkt) (*Writer, reassembly.Stats) {
	t.Helper()
	w, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	sh := reassembly.NewShard(rcfg, w.Sink(0))
	for i, p := range pkts {
		seg := reassembly.Segment{Key: p.key, Seq: p.seq, Flags: p.flags, VLAN: vlan, Time: t0.Add(time.Duration(i) * time.Millisecond).UnixNano(), Payload: []byte(p.data)}
		if err := sh.Handle(&seg); err != nil {
			t.Fatal(err)
		}
	}
	if err := sh.Finish(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return w, sh.Stats()
}

// readDir returns every regular file in dir with its contents.
func readDir(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		out[e.Name()] = string(b)
	}
	return out
}

func dump(m map[string]string) string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%q\n", k, m[k])
	}
	return b.String()
}

func TestFiles(t *testing.T) {
	hs := []pkt{{c2s, syn, 100, ""}, {s2c, sa, 500, ""}}
	tests := []struct {
		name   string
		cfg    Config
		vlan   int32
		before map[string]string // files in the directory before the run
		pkts   []pkt
		want   map[string]string
	}{
		{
			name: "both directions, out of order",
			pkts: append(hs, pkt{c2s, pa, 105, "BBBB"}, pkt{c2s, pa, 101, "AAAA"}, pkt{s2c, pa, 501, "ok"}, pkt{c2s, fa, 109, ""}),
			want: map[string]string{cliName: "AAAABBBB", srvName: "ok"},
		},
		{
			name: "port reuse after FIN gets c1",
			pkts: append(hs, pkt{c2s, pa, 101, "one"}, pkt{c2s, fa, 104, ""}, pkt{c2s, syn, 9000, ""}, pkt{c2s, pa, 9001, "two"}),
			want: map[string]string{cliName: "one", cliName + "c1": "two"},
		},
		{
			name:   "a file of a previous run is kept, the new one gets c1",
			before: map[string]string{cliName: "old run", cliName + "c2": "older"},
			pkts:   append(hs, pkt{c2s, pa, 101, "one"}, pkt{c2s, fa, 104, ""}, pkt{c2s, syn, 9000, ""}, pkt{c2s, pa, 9001, "two"}),
			want:   map[string]string{cliName: "old run", cliName + "c1": "one", cliName + "c2": "older", cliName + "c3": "two"},
		},
		{
			name: "-b keeps the first bytes",
			cfg:  Config{MaxBytes: 5},
			pkts: append(hs, pkt{c2s, pa, 101, "0123"}, pkt{c2s, pa, 105, "4567"}, pkt{c2s, pa, 109, "89"}, pkt{s2c, pa, 506, "late"}),
			want: map[string]string{cliName: "01234", srvName: ""},
		},
		{
			name: "VLAN suffix",
			vlan: 10,
			pkts: append(hs, pkt{c2s, pa, 101, "x"}),
			want: map[string]string{cliName + "--10": "x"},
		},
		{
			name: "IPv6 name",
			pkts: []pkt{{key("[2001:db8::1]:40000", "[2001:db8::2]:443"), pa, 7, "v6"}},
			want: map[string]string{"2001:db8::1.40000-2001:db8::2.00443": "v6"},
		},
		{
			name: "SYN-less, earlier data arrives later",
			pkts: []pkt{{c2s, pa, 1005, "MIDDLE"}, {c2s, pa, 1011, "LATER"}, {c2s, pa, 1001, "EARL"}},
			want: map[string]string{cliName: "EARLMIDDLELATER"},
		},
		{
			name: "new SYN while open, jump beyond the max gap",
			pkts: append(hs, pkt{c2s, pa, 101, "old"}, pkt{c2s, syn, 5000, ""}, pkt{c2s, pa, 5001, "new"}, pkt{c2s, pa, 5004 + 16<<20 + 1, "far"}),
			want: map[string]string{cliName: "old", cliName + "c1": "new", cliName + "c2": "far"},
		},
		{
			name: "hole and earlier data inserted in front",
			pkts: []pkt{{c2s, pa, 1005, "MIDDLE"}, {c2s, pa, 1015, "LATE"}, {c2s, pa, 1001, "EARL"}},
			want: map[string]string{cliName: "EARLMIDDLE\x00\x00\x00\x00LATE"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "out", "sub")
			for name, data := range tt.before {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			cfg := tt.cfg
			cfg.Dir = dir
			vlan := tt.vlan
			if vlan == 0 {
				vlan = reassembly.NoVLAN
			}
			feed(t, cfg, reassembly.Config{}, vlan, tt.pkts)
			if got, want := dump(readDir(t, dir)), dump(tt.want); got != want {
				t.Errorf("files:\n%s\nwant:\n%s", got, want)
			}
		})
	}
}

// Files get the first packet's time as mtime and atime.
func TestFileTimes(t *testing.T) {
	dir := t.TempDir()
	feed(t, Config{Dir: dir}, reassembly.Config{}, reassembly.NoVLAN, []pkt{{c2s, syn, 100, ""}, {c2s, pa, 101, "x"}})
	fi, err := os.Stat(filepath.Join(dir, cliName))
	if err != nil {
		t.Fatal(err)
	}
	if !fi.ModTime().Equal(t0) {
		t.Errorf("mtime %v, want %v", fi.ModTime(), t0)
	}
}

// A symbolic link planted under a flow file's name is neither followed nor
// replaced: the flow goes to the next free name.
func TestSymlinkNotFollowed(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(t.TempDir(), "victim")
	if err := os.WriteFile(target, []byte("precious"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, filepath.Join(dir, cliName)); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(filepath.Join(dir, "dangling"), filepath.Join(dir, cliName+"c1")); err != nil {
		t.Fatal(err)
	}
	feed(t, Config{Dir: dir}, reassembly.Config{}, reassembly.NoVLAN, []pkt{{c2s, pa, 1, "attack"}})
	if b, _ := os.ReadFile(target); string(b) != "precious" {
		t.Errorf("link target now %q", b)
	}
	if _, err := os.Lstat(filepath.Join(dir, "dangling")); err == nil {
		t.Error("dangling link target was created")
	}
	if got := readDir(t, dir); got[cliName+"c2"] != "attack" || len(got) != 1 {
		t.Errorf("files %v", got)
	}
}

// Data on disk (buffers written out early) is moved when earlier data is
// inserted in front, and the -b cap still holds after the move.
func TestShiftOnDisk(t *testing.T) {
	for _, max := range []int64{0, 12} {
		dir := t.TempDir()
		big := strings.Repeat("m", 5000)
		feed(t, Config{Dir: dir, MaxBuffer: 1, BufferSize: 4096, MaxBytes: max}, reassembly.Config{}, reassembly.NoVLAN,
			[]pkt{{c2s, pa, 101, big}, {c2s, pa, 5101, "end"}, {c2s, pa, 91, "0123456789"}})
		want := "0123456789" + big + "end"
		if max > 0 {
			want = want[:max]
		}
		if got := readDir(t, dir)[cliName]; got != want {
			t.Errorf("max %d: got %d bytes %.20q..., want %d", max, len(got), got, len(want))
		}
	}
}

// Stragglers of a closed stream are recognised from its file on disk.
func TestStragglerFromDisk(t *testing.T) {
	dir := t.TempDir()
	data := strings.Repeat("abcdefgh", 10000)
	_, st := feed(t, Config{Dir: dir, BufferSize: 4096, MaxBuffer: 8192}, reassembly.Config{}, reassembly.NoVLAN, []pkt{
		{c2s, syn, 0, ""}, {c2s, pa, 1, data}, {c2s, fa, 80001, ""},
		{c2s, pa, 1001, data[1000:2000]}, // already there: ignored
		{c2s, pa, 1001, "different"},     // not: a new file
	})
	if st.Stragglers != 1 {
		t.Errorf("stragglers %d", st.Stragglers)
	}
	got := readDir(t, dir)
	if got[cliName] != data || got[cliName+"c1"] != "different" || len(got) != 2 {
		t.Errorf("files: %d, c1 %q", len(got), got[cliName+"c1"])
	}
}

// Many more flows than descriptors, interleaved: every file complete.
func TestManyFlowsFewDescriptors(t *testing.T) {
	n := 20000
	if testing.Short() {
		n = 2000
	}
	manyFlows(t, t.TempDir(), n, 16, 1<<20)
}

// manyFlows writes n interleaved flows of three segments each with at
// most maxOpen descriptors (0: from RLIMIT_NOFILE) and checks every file.
func manyFlows(t testing.TB, dir string, n, maxOpen int, maxBuffer int64) {
	w, err := New(Config{Dir: dir, MaxOpen: maxOpen, MaxBuffer: maxBuffer})
	if err != nil {
		t.Fatal(err)
	}
	sh := reassembly.NewShard(reassembly.Config{MaxFlows: n}, w.Sink(0))
	keyOf := func(i int) reassembly.Key {
		return reassembly.Key{Src: c2s.Src, Dst: netipPort(i)}
	}
	payload := func(i, part int) []byte { return fmt.Appendf(nil, "flow %d part %d;", i, part) }
	for part := range 3 {
		for i := range n {
			p := payload(i, part)
			seq := reassembly.Seq(1000)
			for k := range part {
				seq = seq.Add(int64(len(payload(i, k))))
			}
			seg := reassembly.Segment{Key: keyOf(i), Seq: seq, Flags: pa, Time: t0.UnixNano(), Payload: p, VLAN: reassembly.NoVLAN}
			if err := sh.Handle(&seg); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := sh.Finish(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	st := w.Stats()
	if st.Files != uint64(n) || st.PeakOpen > int64(st.MaxOpen) {
		t.Errorf("files %d, peak open %d of %d", st.Files, st.PeakOpen, st.MaxOpen)
	}
	for i := range n {
		name := Name(keyOf(i), reassembly.NoVLAN, 0)
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		want := bytes.Join([][]byte{payload(i, 0), payload(i, 1), payload(i, 2)}, nil)
		if !bytes.Equal(b, want) {
			t.Fatalf("%s: %q, want %q", name, b, want)
		}
	}
	t.Logf("%d flows: %+v", n, st)
}

// netipPort returns a distinct server endpoint for each i.
func netipPort(i int) netip.AddrPort {
	return netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i >> 8), byte(i)}), uint16(80+i>>16))
}

// Shards in their own goroutines share the Writer's budgets (atomics only):
// the files are the same as with one shard. Run with -race.
func TestConcurrentShards(t *testing.T) {
	const flows = 3000
	var segs []reassembly.Segment
	for _, part := range []int{0, 2, 1, 3} { // part 2 before part 1: held out of order
		for i := range flows {
			k := reassembly.Key{Src: netipPort(i), Dst: c2s.Dst}
			if i%2 == 1 {
				k = k.Reverse()
			}
			p := fmt.Appendf(nil, "%05d/%d.", i, part)
			segs = append(segs, reassembly.Segment{Key: k, Seq: reassembly.Seq(1 + part*len(p)), Flags: pa, Time: t0.UnixNano(), Payload: p, VLAN: reassembly.NoVLAN})
		}
	}
	run := func(n int) map[string]string {
		dir := t.TempDir()
		w, err := New(Config{Dir: dir, Shards: n, MaxOpen: n + 4, MaxBuffer: 64 << 10})
		if err != nil {
			t.Fatal(err)
		}
		budget := reassembly.NewBudget(1 << 20)
		chans := make([]chan *reassembly.Segment, n)
		errs := make(chan error, n)
		for i := range n {
			chans[i] = make(chan *reassembly.Segment, 64)
			sh := reassembly.NewShard(reassembly.Config{Pending: budget, Index: i, Count: n}, w.Sink(i))
			go func() {
				var err error
				for seg := range chans[i] {
					if err == nil {
						err = sh.Handle(seg)
					}
				}
				if err == nil {
					err = sh.Finish()
				}
				errs <- err
			}()
		}
		for i := range segs {
			chans[segs[i].Key.Hash()%uint64(n)] <- &segs[i]
		}
		for _, c := range chans {
			close(c)
		}
		for range n {
			if err := <-errs; err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		if st := w.Stats(); st.Files != flows || st.PeakOpen > int64(n+4) {
			t.Errorf("%d shards: %+v", n, st)
		}
		if budget.Used() != 0 {
			t.Errorf("%d bytes still held", budget.Used())
		}
		return readDir(t, dir)
	}
	one, four := run(1), run(4)
	if dump(one) != dump(four) {
		t.Error("1 and 4 shards wrote different files")
	}
	if got := one[Name(reassembly.Key{Src: netipPort(2), Dst: c2s.Dst}, reassembly.NoVLAN, 0)]; got != "00002/0.00002/1.00002/2.00002/3." {
		t.Errorf("flow 2: %q", got)
	}
}
