package flowfile

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowcap/flowcap/reassembly"
)

// When the write buffers fill Config.MaxBuffer, the largest is written
// out first; smaller ones stay in memory. Every page comes back when the
// streams close.
func TestLargestBufferFirst(t *testing.T) {
	r := newBufferRig(t, 3*maxPageSize) // three pages
	w, sh, send, onDisk := r.w, r.sh, r.send, r.onDisk
	send(0, 100)  // a page
	send(1, 1500) // two pages
	send(0, 100)
	for i := range 2 {
		if n := onDisk(i); n != -1 {
			t.Fatalf("flow %d written early: %d bytes", i, n)
		}
	}
	send(2, 100) // no page left: flow 1, the largest, goes out
	if n := onDisk(1); n != 1500 {
		t.Errorf("flow 1: %d bytes on disk, want 1500", n)
	}
	for _, i := range []int{0, 2} {
		if n := onDisk(i); n != -1 {
			t.Errorf("flow %d: %d bytes on disk, want none yet", i, n)
		}
	}
	if err := sh.Finish(); err != nil {
		t.Fatal(err)
	}
	if used := pagesInUse(w); used != 0 {
		t.Errorf("%d pages still in use once every stream closed", used)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for i, want := range []int64{200, 1500, 100} {
		if n := onDisk(i); n != want {
			t.Errorf("flow %d: %d bytes, want %d", i, n, want)
		}
	}
}

// A buffer that has not grown while its sink took in twice the arena is
// written out before larger, busier ones: a quiet stream does not keep
// its pages while the busy ones share what is left. Until then the
// largest goes first.
func TestStaleBufferFirst(t *testing.T) {
	r := newBufferRig(t, 8*maxPageSize) // stale after 16 KiB
	w, sh, send, onDisk := r.w, r.sh, r.send, r.onDisk
	send(0, 100) // one page, then quiet
	// Flows 1 and 2 take turns with two pages a segment: whenever one
	// needs pages the other holds more than flow 0, so largest first
	// never picks flow 0.
	for k := range 6 { // 10,800 bytes: flow 0 not stale yet
		send(1+k%2, 1800)
	}
	if onDisk(1) <= 0 && onDisk(2) <= 0 {
		t.Fatal("no busy buffer written out yet: the arena is not full, the test proves nothing")
	}
	if n := onDisk(0); n != -1 {
		t.Fatalf("flow 0 written after 10,800 bytes of others (%d on disk): before it was stale", n)
	}
	for k := range 6 { // 21,600 bytes in all
		send(1+k%2, 1800)
	}
	if n := onDisk(0); n != 100 {
		t.Errorf("flow 0: %d bytes on disk after 21,600 bytes of others, want its 100: a stale buffer goes first", n)
	}
	if err := sh.Finish(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if n := onDisk(i); n != r.sent[i] {
			t.Errorf("flow %d: %d bytes, want %d", i, n, r.sent[i])
		}
	}
	if used := pagesInUse(w); used != 0 {
		t.Errorf("%d pages still in use once every stream closed", used)
	}
}

// bufferRig is one shard writing through a Writer with maxBuffer bytes
// of buffers: send(i, n) sends n bytes on flow i, onDisk(i) is the size of
// flow i's file (-1 if there is none).
type bufferRig struct {
	t    *testing.T
	dir  string
	w    *Writer
	sh   *reassembly.Shard
	seq  map[int]reassembly.Seq
	sent map[int]int64
}

func newBufferRig(t *testing.T, maxBuffer int64) *bufferRig {
	dir := t.TempDir()
	w, err := New(Config{Dir: dir, MaxBuffer: maxBuffer})
	if err != nil {
		t.Fatal(err)
	}
	sh := reassembly.NewShard(reassembly.Config{}, w.Sink(0))
	return &bufferRig{t: t, dir: dir, w: w, sh: sh, seq: map[int]reassembly.Seq{}, sent: map[int]int64{}}
}

func (r *bufferRig) key(i int) reassembly.Key { return reassembly.Key{Src: c2s.Src, Dst: netipPort(i)} }

func (r *bufferRig) send(i, n int) {
	r.t.Helper()
	if _, ok := r.seq[i]; !ok {
		r.seq[i] = 1000
	}
	seg := reassembly.Segment{Key: r.key(i), Seq: r.seq[i], Flags: pa, Time: t0.UnixNano(), Payload: []byte(strings.Repeat(string(rune('a'+i)), n)), VLAN: reassembly.NoVLAN}
	if err := r.sh.Handle(&seg); err != nil {
		r.t.Fatal(err)
	}
	r.seq[i] = r.seq[i].Add(int64(n))
	r.sent[i] += int64(n)
}

func (r *bufferRig) onDisk(i int) int64 {
	fi, err := os.Stat(filepath.Join(r.dir, Name(r.key(i), reassembly.NoVLAN, 0)))
	if err != nil {
		return -1
	}
	return fi.Size()
}

// pagesInUse counts the pages of w's arena that hold buffered bytes.
func pagesInUse(w *Writer) int {
	n := int(w.arena.next.Load()) - len(w.arena.free)
	for _, s := range w.sinks {
		n -= len(s.free)
	}
	return n
}

// Flush (a live capture's tick) writes out every buffer of the sink while
// the streams stay open; Stats.Written counts the bytes as they go out.
func TestFlushWritesEveryBuffer(t *testing.T) {
	dir := t.TempDir()
	w, err := New(Config{Dir: dir, MaxBuffer: 64 * maxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	sh := reassembly.NewShard(reassembly.Config{}, w.Sink(0))
	keyOf := func(i int) reassembly.Key { return reassembly.Key{Src: c2s.Src, Dst: netipPort(i)} }
	sizes := []int{1, 100, 1500, 5000}
	for i, n := range sizes {
		seg := reassembly.Segment{Key: keyOf(i), Seq: 1000, Flags: pa, Time: t0.UnixNano(), Payload: []byte(strings.Repeat(string(rune('a'+i)), n)), VLAN: reassembly.NoVLAN}
		if err := sh.Handle(&seg); err != nil {
			t.Fatal(err)
		}
	}
	if got := w.Stats().Written; got != 0 {
		t.Fatalf("%d bytes written before Flush; the buffers should hold them", got)
	}
	if err := w.Flush(0); err != nil {
		t.Fatal(err)
	}
	total := 0
	for i, n := range sizes {
		total += n
		data, err := os.ReadFile(filepath.Join(dir, Name(keyOf(i), reassembly.NoVLAN, 0)))
		if err != nil || string(data) != strings.Repeat(string(rune('a'+i)), n) {
			t.Errorf("flow %d after Flush: %d bytes, %v; want its %d bytes", i, len(data), err, n)
		}
	}
	if got := w.Stats().Written; got != uint64(total) {
		t.Errorf("Stats().Written = %d after Flush, want %d", got, total)
	}
	if used := pagesInUse(w); used != 0 {
		t.Errorf("%d pages still in use after Flush", used)
	}
	if err := sh.Finish(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}
