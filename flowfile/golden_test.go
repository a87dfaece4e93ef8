package flowfile

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowcap/flowcap/reassembly"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestStatsGolden keeps the reassembly counters of every testdata capture
// (decoded as tcpflow does, see TestTcpflowSemantics) in a golden file, so
// that a change in what the reports will say shows in review.
// go test ./flowfile -run StatsGolden -update rewrites it.
func TestStatsGolden(t *testing.T) {
	captures, err := filepath.Glob("../testdata/capture/*.pcap*")
	if err != nil || len(captures) == 0 {
		t.Fatalf("no captures: %v", err)
	}
	var b strings.Builder
	b.WriteString("# capture: packets streams connections ignored stragglers synignored bytes retransmitted differed keepalives violations outoforder inserts holes holebytes closed(fin rst timeout gap syn evicted end)\n")
	for _, capture := range captures {
		var stats []reassembly.Stats
		if err := tcpflowStyle(capture, t.TempDir(), 1, &stats); err != nil {
			fmt.Fprintf(&b, "%s: %v\n", filepath.Base(capture), err)
			continue
		}
		st := stats[0]
		c := st.Closed
		fmt.Fprintf(&b, "%s: %d %d %d %d %d %d %d %d %d %d %d %d %d %d %d (%d %d %d %d %d %d %d)\n", filepath.Base(capture),
			st.Packets, st.Streams, st.Connections, st.Ignored, st.Stragglers, st.SYNIgnored, st.Bytes, st.Retransmitted,
			st.Differed, st.KeepAlives, st.Violations, st.OutOfOrder, st.Inserts, st.Holes, st.HoleBytes,
			c[reassembly.FINSeen], c[reassembly.RSTSeen], c[reassembly.Timeout], c[reassembly.Gap], c[reassembly.NewSYN], c[reassembly.Evicted], c[reassembly.End])
	}
	golden := filepath.Join("testdata", "stats.golden")
	if *update {
		if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (go test ./flowfile -run StatsGolden -update writes it)", err)
	}
	if got := b.String(); got != string(want) {
		gl, wl := strings.Split(got, "\n"), strings.Split(string(want), "\n")
		for i := range max(len(gl), len(wl)) {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Errorf("got  %s\nwant %s", g, w)
			}
		}
	}
}
