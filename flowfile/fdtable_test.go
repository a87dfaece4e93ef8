package flowfile

import (
	"bufio"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// Once growFDTableAt flow files are open, the descriptor table is grown in
// one step to the whole budget (one RCU grace period instead of one per
// doubling); with fewer files it is left alone. The table never shrinks,
// so each case runs in a child process of its own, which starts with a
// small one.
func TestFDTableGrowsOnce(t *testing.T) {
	if os.Getenv("FLOWFILE_FDTABLE_DIR") != "" {
		fdTableChild(t)
		return
	}
	// A budget of 3,000 descriptors (a table of 4,096), or what
	// RLIMIT_NOFILE leaves.
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
		t.Fatal(err)
	}
	budget := 3000
	if rl.Cur < uint64(budget+2*fdReserve) {
		budget = int(rl.Cur) - 2*fdReserve
	}
	if budget < 4*growFDTableAt {
		t.Skipf("RLIMIT_NOFILE %d: too few descriptors to see the table grow", rl.Cur)
	}
	for _, tc := range []struct {
		flows, maxOpen int
		want           string
	}{
		{flows: 600, maxOpen: budget, want: "grown"},
		{flows: growFDTableAt / 2, maxOpen: budget, want: "small"}, // never 128 open: as the kernel grows it
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestFDTableGrowsOnce$", "-test.v")
		cmd.Env = append(os.Environ(), "FLOWFILE_FDTABLE_DIR="+t.TempDir(),
			"FLOWFILE_FDTABLE_FLOWS="+strconv.Itoa(tc.flows), "FLOWFILE_FDTABLE_MAXOPEN="+strconv.Itoa(tc.maxOpen),
			"FLOWFILE_FDTABLE_WANT="+tc.want)
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "--- PASS") {
			t.Errorf("%d flows, budget %d: child: %v\n%s", tc.flows, tc.maxOpen, err, out)
			continue
		}
		t.Logf("%d flows, budget %d:\n%s", tc.flows, tc.maxOpen, out)
	}
}

func fdTableChild(t *testing.T) {
	flows, _ := strconv.Atoi(os.Getenv("FLOWFILE_FDTABLE_FLOWS"))
	maxOpen, _ := strconv.Atoi(os.Getenv("FLOWFILE_FDTABLE_MAXOPEN"))
	before := fdTableSize(t)
	if before >= maxOpen {
		t.Fatalf("FDSize %d at the start, want less than the budget %d", before, maxOpen)
	}
	// Buffers of one page each: every flow's file is created and held open
	// early, as with many interleaved connections.
	manyFlows(t, os.Getenv("FLOWFILE_FDTABLE_DIR"), flows, maxOpen, 1<<10)
	after := fdTableSize(t)
	t.Logf("FDSize %d before, %d after", before, after)
	switch grown := after >= maxOpen+fdReserve; {
	case os.Getenv("FLOWFILE_FDTABLE_WANT") == "grown" && !grown:
		t.Errorf("FDSize %d after %d flows, want at least the budget %d+%d", after, flows, maxOpen, fdReserve)
	case os.Getenv("FLOWFILE_FDTABLE_WANT") == "small" && grown:
		t.Errorf("FDSize %d after %d flows: grown to the budget, want it left to the kernel", after, flows)
	}
}

// fdTableSize is the size of the process's descriptor table (FDSize in
// /proc/self/status).
func fdTableSize(t *testing.T) int {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "FDSize:"); ok {
			n, err := strconv.Atoi(strings.TrimSpace(v))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no FDSize in /proc/self/status")
	return 0
}
