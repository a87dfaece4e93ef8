package main

// flowcap's own resources: one memory budget (--mem) for everything that
// buffers data, and the hidden profiling flags that flowbench uses.

import (
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"runtime/pprof"
	"unsafe"

	"github.com/urfave/cli/v2"

	"github.com/flowcap/flowcap/capture"
	"github.com/flowcap/flowcap/reassembly"
)

// defaultMem is --mem in MiB: with the bookkeeping of the flows (about
// 1 KB per open direction, 64 MiB at --max-flows) and the runtime's own,
// flowcap's peak RSS stays under 128 MiB however many flows are open
// (TestManyConcurrentFlows, 65,536 directions: 118.6-119.8 MiB; 150 MiB
// with 80, which is faster there but not on the benchmark workloads:
// docs/performance.md).
const defaultMem = 40

// memHeadroom is what the Go runtime may use beyond its part of --mem
// (batches, held data) before its garbage collector works harder: the
// flows' bookkeeping (a few hundred bytes per open direction), the
// reports', the runtime's own, and garbage not yet collected.
const memHeadroom = 40 << 20

// perfFlags are the flags about flowcap's own resources.
func perfFlags() []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: "mem", Value: defaultMem, Usage: "buffer at most `MiB` of data in all: packets on their way to the shards, out-of-order data, file write buffers"},
		// For measuring flowcap itself (flowbench -profile), not for users.
		&cli.StringFlag{Name: "cpuprofile", Hidden: true, Usage: "write a CPU profile to `FILE`"},
		&cli.StringFlag{Name: "memprofile", Hidden: true, Usage: "write an allocation profile to `FILE` at exit"},
	}
}

// perfConfig binds the perf flags into cfg.
func perfConfig(c *cli.Context, cfg *config) error {
	m := c.Int("mem")
	if m < 1 || m > 1<<20 {
		return fmt.Errorf("--mem %d: must be between 1 and 1048576 MiB", m)
	}
	cfg.mem = int64(m) << 20
	cfg.cpuProfile = c.String("cpuprofile")
	cfg.memProfile = c.String("memprofile")
	return nil
}

// memPlan divides the --mem budget. Batches on their way to the shards
// take a fixed part, counted at its worst: every batch full, holding the
// most input blocks it may. Out-of-order data held by the shards and the
// files' write buffers share the rest: write buffers take most, as every
// byte goes through them and the fewer writes the better; held data is
// written early, leaving a hole that later data fills, when its part is
// spent. With a budget too small for the batches (below 10.3 MiB with
// two shards: four times their 2.58 MiB at the least), buffers and held
// data still get a minimum each, so --mem 1 is a test of the tight paths,
// not an error.
type memPlan struct {
	perShard  int   // batches in flight per shard
	batches   int64 // bytes the batches may take
	pending   int64 // out-of-order data held, all shards together
	buffers   int64 // file write buffers, all shards together
	softLimit int64 // for the Go runtime (debug.SetMemoryLimit)
}

const (
	segmentSize = int64(unsafe.Sizeof(reassembly.Segment{}))
	minPending  = 64 << 10
	minBuffers  = 64 << 10
)

func planMemory(mem int64, shards, readers int) memPlan {
	p := memPlan{perShard: batchesPerShd}
	for {
		n := int64(shards * (p.perShard + readers))
		// Each batch: its segments, an arena for copied payloads, the blocks
		// it holds; and each reader's source holds one block more.
		p.batches = n*(batchSegments*segmentSize+batchArena+batchBlocks*capture.BlockSize) + int64(readers)*capture.BlockSize
		if p.batches <= mem/4 || p.perShard == 1 {
			break
		}
		p.perShard--
	}
	rest := mem - p.batches
	p.pending = max(rest/8, minPending)
	p.buffers = max(rest-p.pending, minBuffers)
	// The write buffers live outside the Go heap (flowfile's arena).
	p.softLimit = p.batches + p.pending + memHeadroom
	return p
}

// setMemoryLimit tells the Go runtime the memory it should keep to,
// unless GOMEMLIMIT says otherwise, and returns how to put the previous
// limit back (flowcap runs in tests' processes too).
func setMemoryLimit(p memPlan) (restore func()) {
	if os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	prev := debug.SetMemoryLimit(p.softLimit)
	return func() { debug.SetMemoryLimit(prev) }
}

// startProfile starts the profiles asked for; the returned function stops
// them and writes them out.
func startProfile(cfg *config) (stop func() error, err error) {
	stop = func() error { return nil }
	if cfg.memProfile != "" {
		stop = func() error {
			f, err := os.Create(cfg.memProfile)
			if err != nil {
				return err
			}
			return errors.Join(pprof.Lookup("allocs").WriteTo(f, 0), f.Close())
		}
	}
	if cfg.cpuProfile == "" {
		return stop, nil
	}
	f, err := os.Create(cfg.cpuProfile)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("--cpuprofile: %w", err)
	}
	mem := stop
	return func() error {
		pprof.StopCPUProfile()
		return errors.Join(f.Close(), mem())
	}, nil
}
