package capturetest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// tool returns the path of an oracle binary, failing the test with the fix
// when it is missing.
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed: run `make deps` (installs tcpflow, tcpdump, tshark)", name)
	}
	return p
}

// runTool runs a command and returns its stdout, failing on a non-zero exit.
func runTool(t *testing.T, name string, args ...string) (stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(tool(t, name), args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, errb.String())
	}
	return out.String(), errb.String()
}

// writeTemp writes the scenario to a file in a test directory.
func writeTemp(t *testing.T, s *Scenario, f Format, name string) (string, Stats) {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	st, err := s.WriteFile(path, f)
	if err != nil {
		t.Fatal(err)
	}
	return path, st
}

// readFlowDir reads a directory of flow files, report.xml aside.
func readFlowDir(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{}
	for _, e := range ents {
		if e.Name() == "report.xml" {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = b
	}
	return files
}

// diffFiles reports every difference between two sets of flow files.
func diffFiles(t *testing.T, who string, got, want map[string][]byte) {
	t.Helper()
	for name, w := range want {
		g, ok := got[name]
		switch {
		case !ok:
			t.Errorf("%s: missing %s (%d bytes)", who, name, len(w))
		case !bytes.Equal(g, w):
			t.Errorf("%s: %s: %d bytes, want %d; first difference at %d", who, name, len(g), len(w), firstDiff(g, w))
		}
	}
	for name, g := range got {
		if _, ok := want[name]; !ok {
			t.Errorf("%s: unexpected %s (%d bytes)", who, name, len(g))
		}
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

var timestampLine = regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d\.\d{6,9} `)

// TestTcpdump: tcpdump reads every format and link type, one line per
// frame, and finds no bad checksum, bad length or truncated header.
func TestTcpdump(t *testing.T) {
	tool(t, "tcpdump")
	for _, l := range Links {
		s := linkScenario(l)
		s.Conns = s.Conns[:2]
		for _, f := range Formats {
			t.Run(l.String()+"/"+f.String(), func(t *testing.T) {
				t.Parallel()
				path, st := writeTemp(t, s, f, "c.pcap")
				out, errs := runTool(t, "tcpdump", "-r", path, "-n", "-vv")
				if n := len(timestampLine.FindAllString(out, -1)); int64(n) != st.Packets {
					t.Errorf("tcpdump printed %d packets, %d written", n, st.Packets)
				}
				// SLL2 names interfaces by index: tcpdump warns that the names
				// are this machine's.
				rest := strings.TrimSpace(strings.SplitN(errs, "\n", 2)[1])
				if l == SLL2 {
					rest = strings.TrimPrefix(rest, "Warning: interface names might be incorrect")
				}
				if rest != "" || !strings.HasPrefix(errs, "reading from file") {
					t.Errorf("tcpdump complained: %s", errs)
				}
				lower := strings.ToLower(out)
				for _, bad := range []string{"bad", "trunc", "[|", "invalid", "incorrect", "unknown"} {
					if i := strings.Index(lower, bad); i >= 0 {
						t.Errorf("tcpdump says %q: %s", bad, out[max(0, i-200):min(len(out), i+100)])
					}
				}
			})
		}
	}
}

// TestTshark: tshark finds one TCP stream per connection (port reuse
// included, fragments reassembled) and no bad IP or TCP checksum.
func TestTshark(t *testing.T) {
	tool(t, "tshark")
	ts := tcpflowScenarios()
	scenarios := map[string]*Scenario{
		"interleaved": ts["interleaved"],
		"reuse":       ts["reuse"],
		"vlan":        ts["vlan"],
		"ethernet":    linkScenario(Ethernet),
		"sll2":        linkScenario(SLL2),
		"null":        linkScenario(Null),
		"fragments": {Seed: 5, Conns: append(conns(3, false, 5000, 5000), conns(3, true, 5000, 5000)...),
			Fragment: 1, FragShuffle: true, IPv6ExtHeaders: true, FragSize: 256},
	}
	for name, s := range scenarios {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path, _ := writeTemp(t, s, Format{NG: true}, "c.pcapng")
			out, _ := runTool(t, "tshark", "-r", path, "-o", "tcp.check_checksum:TRUE", "-o", "ip.check_checksum:TRUE",
				"-T", "fields", "-E", "separator=,", "-e", "tcp.stream", "-e", "ip.checksum.status", "-e", "tcp.checksum.status")
			streams := map[string]bool{}
			for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
				f := strings.Split(line, ",")
				if f[0] != "" {
					streams[f[0]] = true
				}
				if len(f) == 3 && (f[1] == "0" || f[2] == "0") {
					t.Errorf("bad checksum: %s", line)
				}
			}
			if len(streams) != len(s.Conns) {
				t.Errorf("tshark finds %d TCP streams, want %d", len(streams), len(s.Conns))
			}
		})
	}
}
