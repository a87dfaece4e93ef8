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
	dir := t.TempDir()
	w, err := New(Config{Dir: dir, MaxBuffer: 3 * maxPageSize}) // three pages

	if err != nil {
		t.Fatal(err)
	}
	sh := reassembly.NewShard(reassembly.Config{}, w.Sink(0))
	keyOf := func(i int) reassembly.Key { return reassembly.Key{Src: c2s.Src, Dst: netipPort(i)} }
	seq := map[int]reassembly.Seq{}
	send := func(i, n int) {
		t.Helper()
		if _, ok := seq[i]; !ok {
			seq[i] = 1000
		}
		seg := reassembly.Segment{Key: keyOf(i), Seq: seq[i], Flags: pa, Time: t0.UnixNano(), Payload: []byte(strings.Repeat(string(rune('a'+i)), n)), VLAN: reassembly.NoVLAN}
		if err := sh.Handle(&seg); err != nil {
			t.Fatal(err)
		}
		seq[i] = seq[i].Add(int64(n))
	}
	onDisk := func(i int) int64 {
		fi, err := os.Stat(filepath.Join(dir, Name(keyOf(i), reassembly.NoVLAN, 0)))
		if err != nil {
			return -1
		}
		return fi.Size()
	}
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
