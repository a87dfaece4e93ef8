package flowfile

import (
	"testing"

	"github.com/flowcap/flowcap/reassembly"
)

// writeLoop returns a shard writing one established flow into dir and a
// function that hands it the next in-order segment.
func writeLoop(tb testing.TB, dir string, size int) (func(), func()) {
	w, err := New(Config{Dir: dir})
	if err != nil {
		tb.Fatal(err)
	}
	sh := reassembly.NewShard(reassembly.Config{}, w.Sink(0))
	syn := reassembly.Segment{Key: c2s, Flags: syn, VLAN: reassembly.NoVLAN}
	if err := sh.Handle(&syn); err != nil {
		tb.Fatal(err)
	}
	seg := reassembly.Segment{Key: c2s, Seq: 1, Flags: pa, VLAN: reassembly.NoVLAN, Payload: make([]byte, size)}
	next := func() {
		if err := sh.Handle(&seg); err != nil {
			tb.Fatal(err)
		}
		seg.Seq = seg.Seq.Add(int64(size))
	}
	done := func() {
		if err := sh.Finish(); err != nil {
			tb.Fatal(err)
		}
		if err := w.Close(); err != nil {
			tb.Fatal(err)
		}
	}
	return next, done
}

// Small segments become large writes, and the steady state allocates
// nothing, write system calls included.
func TestWriteDoesNotAllocate(t *testing.T) {
	next, done := writeLoop(t, t.TempDir(), 100)
	next() // the file is created, the buffer sized
	if n := testing.AllocsPerRun(5000, next); n != 0 {
		t.Errorf("%v allocations per segment", n)
	}
	done()
}

func TestSmallSegmentsBatched(t *testing.T) {
	dir := t.TempDir()
	w, err := New(Config{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	sh := reassembly.NewShard(reassembly.Config{}, w.Sink(0))
	seg := reassembly.Segment{Key: c2s, Seq: 1, Flags: pa, VLAN: reassembly.NoVLAN, Payload: make([]byte, 100)}
	for range 10000 {
		if err := sh.Handle(&seg); err != nil {
			t.Fatal(err)
		}
		seg.Seq = seg.Seq.Add(100)
	}
	if err := sh.Finish(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	// 1,000,000 bytes in 10,000 segments: 16 writes of 64 KiB, not 10,000.
	if st := w.Stats(); st.Writes > 20 || st.Bytes != 1000000 {
		t.Errorf("%+v", st)
	}
}

func BenchmarkWrite(b *testing.B) {
	for _, size := range []int{100, 1460} {
		b.Run(itoa(int64(size)), func(b *testing.B) {
			next, done := writeLoop(b, b.TempDir(), size)
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				next()
			}
			b.StopTimer()
			done()
		})
	}
}
