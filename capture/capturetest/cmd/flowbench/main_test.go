package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestMain lets the test binary serve as flowbench's runner and floors,
// which flowbench starts as its own executable.
func TestMain(m *testing.M) {
	runChild()
	os.Exit(m.Run())
}

// TestBenchSmall runs the whole of `make bench`'s harness on workloads a
// two-hundredth of their size, once each: every contender runs, flowcap's
// and tcpflow's files are compared, and every figure and verdict the
// performance targets need is printed. The figures themselves are not
// judged here: timings belong to `make bench`.
func TestBenchSmall(t *testing.T) {
	if _, err := exec.LookPath("tcpflow"); err != nil {
		t.Fatal("tcpflow is not installed: run `make deps` (installs tcpflow 1.6.1)")
	}
	bin := filepath.Join(t.TempDir(), "flowcap")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/flowcap/flowcap").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	var stdout, stderr bytes.Buffer
	// No -dir: on tmpfs in /dev/shm, removed at the end, as `make bench` runs it.
	if code := run([]string{"-flowcap", bin, "-runs", "1", "-scale", "0.005"}, &stdout, &stderr); code != 0 {
		t.Fatalf("flowbench exited %d: %s\n%s", code, stderr.String(), stdout.String())
	}
	out := stdout.String()
	t.Log(out)
	for _, w := range []string{"interleaved", "short", "gro"} {
		if !strings.Contains(out, "== "+w+":") {
			t.Errorf("no table for %s", w)
		}
		for _, verdict := range []string{"faster than tcpflow (target", "the larger floor", "peak RSS"} {
			if !containsLine(out, w+": ", verdict) {
				t.Errorf("%s: no verdict on %q", w, verdict)
			}
		}
	}
	if !containsLine(out, "interleaved: ", "--shards 2") {
		t.Error("no verdict on the scaling of --shards 2")
	}
	for _, want := range []string{
		"tcpflow/flowcap", "--shards 2 is", "flowcap/floor", "tcpflow/floor",
		"floor: read+decode", "floor: create files", "floor: create, all cores",
		"creating the files alone, on all cores", "wall", "peak RSS", "MB/s",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in the output", want)
		}
	}
}

// containsLine reports whether a line of s holds both a and b.
func containsLine(s, a, b string) bool {
	for _, line := range strings.Split(s, "\n") {
		if strings.Contains(line, a) && strings.Contains(line, b) {
			return true
		}
	}
	return false
}
