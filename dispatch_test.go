package main

import (
	"bytes"
	"io"
	"strconv"
	"testing"

	"github.com/flowcap/flowcap/capture"
	"github.com/flowcap/flowcap/capture/capturetest"
	"github.com/flowcap/flowcap/reassembly"
)

// dispatchOnly is a pipeline whose shards only hand the batches back: the
// reader's side of the pipeline, alone.
func dispatchOnly(tb testing.TB, shards int) *reader {
	tb.Helper()
	mem := planMemory(defaultMem<<20, shards, 1)
	p := &pipeline{free: make(chan *batch, shards*(mem.perShard+1)), shards: make([]*reassembly.Shard, shards)}
	for range cap(p.free) {
		p.free <- newBatch()
	}
	for range shards {
		ch := make(chan *batch, mem.perShard)
		p.work = append(p.work, ch)
		go func() {
			for b := range ch {
				b.reset()
				p.free <- b
			}
		}()
	}
	tb.Cleanup(func() {
		for _, ch := range p.work {
			close(ch)
		}
	})
	return p.newReader()
}

// decoded returns the segments of a small interleaved workload, their
// payloads in the blocks of the reader they came from (each block
// retained once more, so that they stay as they are).
func decoded(tb testing.TB) ([]reassembly.Segment, []*capture.Block) {
	tb.Helper()
	sc, err := capturetest.Workload("interleaved", 200, 20<<20, 1, false)
	if err != nil {
		tb.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := sc.Write(&buf, capturetest.Format{}); err != nil {
		tb.Fatal(err)
	}
	src, err := capture.NewSource(&buf, "interleaved.pcap")
	if err != nil {
		tb.Fatal(err)
	}
	holder := src.(capture.Holder)
	dec := capture.NewDecoder()
	var segs []reassembly.Segment
	var blocks []*capture.Block
	for {
		data, info, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			tb.Fatal(err)
		}
		var seg reassembly.Segment
		if dec.Decode(data, info, &seg) != capture.OK {
			tb.Fatal("a segment of the workload did not decode")
		}
		blk := holder.Block()
		if len(blocks) == 0 || blocks[len(blocks)-1] != blk {
			blk.Retain()
		}
		segs, blocks = append(segs, seg), append(blocks, blk)
	}
	return segs, blocks
}

// The reader hands segments to the shards without allocating: payloads
// stay in the input's blocks, batches and blocks are reused.
func TestDispatchDoesNotAllocate(t *testing.T) {
	segs, blocks := decoded(t)
	r := dispatchOnly(t, 2)
	pass := func() {
		for i := range segs {
			r.dispatch(&segs[i], blocks[i])
		}
	}
	pass()
	if n := testing.AllocsPerRun(3, pass); n != 0 {
		t.Errorf("%v allocations for %d segments", n, len(segs))
	}
}

// BenchmarkDispatch is the reader's share of the pipeline past decoding:
// hashing each segment to its shard and batching it.
func BenchmarkDispatch(b *testing.B) {
	segs, blocks := decoded(b)
	for _, shards := range []int{1, 2, 8} {
		b.Run(strconv.Itoa(shards)+"shards", func(b *testing.B) {
			r := dispatchOnly(b, shards)
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				for i := range segs {
					r.dispatch(&segs[i], blocks[i])
				}
				n += len(segs)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n), "ns/segment")
		})
	}
}
