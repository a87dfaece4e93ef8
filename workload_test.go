package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/flowcap/flowcap/capture/capturetest"
)

// The benchmark workloads (make bench), at a hundredth of their size, come
// out exactly as capturetest says they must, whatever the memory budget:
// the default, and 1 MiB, where write buffers and held data get their
// minimum and the batches their smallest form. The files are complete on
// disk when flowcap returns.
func TestWorkloads(t *testing.T) {
	for _, w := range []struct {
		name  string
		conns int
	}{{"interleaved", 100}, {"short", 2000}, {"gro", 4}} {
		sc, err := capturetest.Workload(w.name, w.conns, 10<<20, 1, false)
		if err != nil {
			t.Fatal(err)
		}
		in := filepath.Join(t.TempDir(), w.name+".pcap")
		if _, err := sc.WriteFile(in, capturetest.Format{}); err != nil {
			t.Fatal(err)
		}
		want := sc.Expected()
		for _, mem := range [][]string{nil, {"--mem", "1"}} {
			t.Run(w.name+"/"+fmt.Sprint(mem), func(t *testing.T) {
				dir := filepath.Join(t.TempDir(), "out")
				args := append([]string{"flowcap", "read", "-q", "--no-report", "--no-flows", "-o", dir}, append(mem, in)...)
				var stdout, stderr bytes.Buffer
				flowcapMu.Lock()
				code := run(context.Background(), args, &stdout, &stderr)
				flowcapMu.Unlock()
				if code != 0 {
					t.Fatalf("exit %d: %s", code, stderr.Bytes())
				}
				sameFiles(t, "flowcap", readOutput(t, dir), want)
			})
		}
	}
}
