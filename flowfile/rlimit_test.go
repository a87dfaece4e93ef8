package flowfile

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// 200,000 concurrent flows under `ulimit -n 256`: the child process lowers
// its own limit, the Writer derives its budget from it, and every file
// comes out complete.
func TestRlimit200kFlows(t *testing.T) {
	if dir := os.Getenv("FLOWFILE_RLIMIT_DIR"); dir != "" {
		rl := unix.Rlimit{Cur: 256, Max: 256}
		if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &rl); err != nil {
			t.Fatal(err)
		}
		manyFlows(t, dir, 200000, 0, 0)
		return
	}
	if testing.Short() || raceEnabled {
		t.Skip("200,000 files: not with -short or -race (TestManyFlowsFewDescriptors covers the paths)")
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestRlimit200kFlows$", "-test.v")
	cmd.Env = append(os.Environ(), "FLOWFILE_RLIMIT_DIR="+t.TempDir())
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "200000 flows") {
		t.Fatalf("child: %v\n%s", err, out)
	}
	t.Logf("child:\n%s", out)
}
