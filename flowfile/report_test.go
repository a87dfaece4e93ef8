package flowfile

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/flowcap/flowcap/reassembly"
)

// newTestReporter makes a Reporter writing both reports into dir.
func newTestReporter(t *testing.T, dir string, cfg ReportConfig) *Reporter {
	t.Helper()
	cfg.Dir = dir
	cfg.XML = filepath.Join(dir, "report.xml")
	cfg.Flows = filepath.Join(dir, "flows.jsonl")
	cfg.Creator = Creator{Program: "flowcap", Version: "test", CommandLine: []string{"flowcap", "read", "it's.pcap"}}
	r, err := NewReporter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func readLines(t *testing.T, path string) []Flow {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var flows []Flow
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if line == "" {
			continue
		}
		var f Flow
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&f); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		flows = append(flows, f)
	}
	return flows
}

// wellFormed parses an XML file and returns its text.
func wellFormed(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		_, err := d.Token()
		if errors.Is(err, os.ErrClosed) || err != nil && err.Error() == "EOF" {
			break
		}
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
	return string(b)
}

// TestReporterJoins: both directions of a connection make one line, once
// both closed; a connection with one direction, one line too; a reused
// 4-tuple is another connection; every stream has its fileobject.
func TestReporterJoins(t *testing.T) {
	dir := t.TempDir()
	r := newTestReporter(t, dir, ReportConfig{MD5: true})
	feed(t, Config{Dir: dir, OnClose: r.OnClose}, reassembly.Config{}, reassembly.NoVLAN, []pkt{
		{c2s, syn, 100, ""},
		{s2c, sa, 500, ""},
		{c2s, pa, 101, "GET / HTTP/1.0\r\n\r\n"},
		{s2c, pa, 501, "HTTP/1.0 200 OK\r\n\r\nhello"},
		{s2c, fa, 525, ""},
		{c2s, fa, 119, ""},
		// The 4-tuple again, a new connection (new ISN).
		{c2s, syn, 9000, ""},
		{c2s, pa, 9001, "again"},
		// Another connection, one direction only.
		{key("10.0.0.3:5", srv), pa, 1, "lonely"},
	})
	if err := r.Close(nil, Summary{Packets: 9}); err != nil {
		t.Fatal(err)
	}
	flows := readLines(t, filepath.Join(dir, "flows.jsonl"))
	if len(flows) != 3 {
		t.Fatalf("%d lines, want 3: %+v", len(flows), flows)
	}
	var first *Flow
	for i := range flows {
		if flows[i].Resp != nil {
			first = &flows[i]
		}
	}
	if first == nil || first.Orig.Addr != "10.0.0.1" || first.Orig.Port != 1000 || first.Resp.Port != 80 ||
		first.Orig.Files[0].Name != cliName || first.Resp.Files[0].Size != 24 || first.Closed != "fin" ||
		first.Orig.Files[0].MD5 == "" || first.Orig.Packets != 3 || first.Resp.Packets != 3 {
		t.Errorf("joined line: %+v %+v %+v", first, first.Orig, first.Resp)
	}
	xmlText := wellFormed(t, filepath.Join(dir, "report.xml"))
	if n := strings.Count(xmlText, "<fileobject>"); n != 4 {
		t.Errorf("%d fileobjects, want 4", n)
	}
	var doc struct {
		CommandLine string `xml:"creator>execution_environment>command_line"`
	}
	if err := xml.Unmarshal([]byte(xmlText), &doc); err != nil || doc.CommandLine != `flowcap read 'it'\''s.pcap'` {
		t.Errorf("command line not quoted as a shell reads it")
	}
	if _, err := os.Stat(filepath.Join(dir, "report.xml.partial")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("report.xml.partial left: %v", err)
	}
	if st := r.Stats(); st.Connections != 3 || st.Hashed != 4 {
		t.Errorf("stats %+v", st)
	}
}

// TestReporterFailed: when flow data could not all be written, the
// reports keep their .partial names, report.xml well formed and saying
// why.
func TestReporterFailed(t *testing.T) {
	dir := t.TempDir()
	var stderr bytes.Buffer
	r := newTestReporter(t, dir, ReportConfig{Stderr: &stderr})
	feed(t, Config{Dir: dir, OnClose: r.OnClose}, reassembly.Config{}, reassembly.NoVLAN, []pkt{{c2s, pa, 1, "data"}})
	if err := r.Close(errors.New("write x: no space left on device"), Summary{}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"report.xml", "flows.jsonl"} {
		if _, err := os.Stat(filepath.Join(dir, name)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s looks complete: %v", name, err)
		}
	}
	x := wellFormed(t, filepath.Join(dir, "report.xml.partial"))
	if !strings.Contains(x, "<error>write x: no space left on device</error>") || !strings.Contains(x, "<fileobject>") {
		t.Errorf("report.xml.partial:\n%s", x)
	}
	if len(readLines(t, filepath.Join(dir, "flows.jsonl.partial"))) != 1 {
		t.Errorf("flows.jsonl.partial lost its line")
	}
	if !strings.Contains(stderr.String(), "report.xml.partial") {
		t.Errorf("stderr: %q", stderr.String())
	}
}

// TestReporterKilled: a run that never ends its reports (killed) leaves
// no report.xml at all, only the .partial one.
func TestReporterKilled(t *testing.T) {
	dir := t.TempDir()
	r := newTestReporter(t, dir, ReportConfig{})
	feed(t, Config{Dir: dir, OnClose: r.OnClose}, reassembly.Config{}, reassembly.NoVLAN, []pkt{{c2s, pa, 1, "data"}})
	if _, err := os.Stat(filepath.Join(dir, "report.xml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("report.xml exists before Close: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "report.xml.partial")); err != nil {
		t.Error(err)
	}
	r.Close(nil, Summary{})
}

// TestRunner: programs get each path, at most max at once; failures are
// one line each and counted.
func TestRunner(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "prog.sh")
	os.WriteFile(script, []byte(`#!/bin/sh
d=$(dirname "$0")
touch "$d/run.$$"
ls "$d" | grep -c '^run\.' >> "$d/counts"
sleep 0.05
rm "$d/run.$$"
echo "$1" >> "$d/seen"
case "$1" in *fail*) exit 3;; esac
`), 0o755)
	var stdout, stderr bytes.Buffer
	r := newRunner([][]string{{script}, {filepath.Join(dir, "missing")}}, 3, &lockedWriter{w: &stdout}, &lockedWriter{w: &stderr})
	for i := range 12 {
		name := fmt.Sprintf("flow%d", i)
		if i%4 == 0 {
			name += "fail"
		}
		r.queue(name)
	}
	r.close()
	seen, _ := os.ReadFile(filepath.Join(dir, "seen"))
	if n := strings.Count(string(seen), "\n"); n != 12 {
		t.Errorf("%d runs recorded, want 12", n)
	}
	counts, _ := os.ReadFile(filepath.Join(dir, "counts"))
	for _, c := range strings.Fields(string(counts)) {
		if n, _ := strconv.Atoi(c); n > 3 {
			t.Errorf("%d programs at once, max 3", n)
		}
	}
	if r.ran.Load() != 24 || r.failed.Load() != 15 {
		t.Errorf("ran %d, failed %d; want 24, 15", r.ran.Load(), r.failed.Load())
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) != 15 || !strings.Contains(stderr.String(), "prog.sh flow0fail: exit status 3") || !strings.Contains(stderr.String(), "missing flow1: ") {
		t.Errorf("stderr:\n%s", stderr.String())
	}
}

// TestCommunityID: the spec's example, both directions.
func TestCommunityID(t *testing.T) {
	k := reassembly.Key{Src: netip.MustParseAddrPort("192.168.0.1:12345"), Dst: netip.MustParseAddrPort("10.0.0.5:80")}
	for _, k := range []reassembly.Key{k, k.Reverse()} {
		if got := communityID(k); got != "1:JHvDxB6S6/K68OntUBf4DJZYvkM=" {
			t.Errorf("communityID(%v) = %s", k, got)
		}
	}
}

// TestReportDir: a flow file's path in report.xml is filepath.Join's,
// whatever form the output directory was given in.
func TestReportDir(t *testing.T) {
	const name = "010.000.000.001.00080-010.000.000.002.01234c1"
	for _, dir := range []string{"", ".", "./", "out", "out/", "./out", "out//x/", "out/./x/..", "/", "/tmp/o", "../o", "é t"} {
		if got, want := reportDir(dir)+name, filepath.Join(dir, name); got != want {
			t.Errorf("reportDir(%q)+name = %q, want %q", dir, got, want)
		}
	}
}

func TestXMLEscape(t *testing.T) {
	for in, want := range map[string]string{
		"a<b>&'\"":   "a&lt;b&gt;&amp;&apos;&quot;",
		"bell\x07":   "bell\uFFFD",
		"bad\xffutf": "bad\uFFFDutf",
		"été":        "été",
		"o/010.000.000.001.00080-010.000.000.002.01234c1": "o/010.000.000.001.00080-010.000.000.002.01234c1",
		"tab\there": "tab\there",
	} {
		if got := xmlEscape(in); got != want {
			t.Errorf("xmlEscape(%q) = %q, want %q", in, got, want)
		}
		if got := string(appendEscaped([]byte("x"), in)); got != "x"+want {
			t.Errorf("appendEscaped(x, %q) = %q, want x%q", in, got, want)
		}
	}
}

// BenchmarkReportConnection: the reports' cost per connection (two
// streams closed, a line of flows.jsonl, two fileobjects).
func BenchmarkReportConnection(b *testing.B) {
	dir := b.TempDir()
	r, err := NewReporter(ReportConfig{Dir: dir, XML: filepath.Join(dir, "report.xml"), Flows: filepath.Join(dir, "flows.jsonl")})
	if err != nil {
		b.Fatal(err)
	}
	c, s := reassembly.Stream{Key: c2s, Client: true, Packets: 5, Size: 100, Reason: reassembly.FINSeen, PeerOpen: true},
		reassembly.Stream{Key: s2c, Packets: 4, Size: 1000, Reason: reassembly.FINSeen}
	b.ReportAllocs()
	for i := range b.N {
		c.Session, s.Session = uint64(i), uint64(i)
		r.OnClose(&c, cliName, 100)
		r.OnClose(&s, srvName, 1000)
	}
	r.Close(nil, Summary{})
}
