package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/flowcap/flowcap/flowfile"
	"github.com/flowcap/flowcap/flowfile/httpbody"
)

// runFlowcapArgs runs `flowcap read -q -o DIR args...` in process.
func runFlowcapArgs(t *testing.T, args ...string) (dir, stderr string, code int) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "flowcap")
	var out, errb bytes.Buffer
	flowcapMu.Lock()
	code = run(context.Background(), append([]string{"flowcap", "read", "-q", "-o", dir}, args...), &out, &errb)
	flowcapMu.Unlock()
	return dir, errb.String(), code
}

// runTcpflowArgs runs tcpflow -r capture -o DIR args...
func runTcpflowArgs(t *testing.T, capture string, args ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tcpflow")
	cmd := exec.Command(lookTcpflow(t), append([]string{"-r", capture, "-o", dir}, args...)...)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("tcpflow: %v: %s", err, out)
	}
	return dir
}

// xmlNode is any XML element, for comparing reports element by element.
type xmlNode struct {
	XMLName  xml.Name
	Attrs    []xml.Attr `xml:",any,attr"`
	Text     string     `xml:",chardata"`
	Children []xmlNode  `xml:",any"`
}

func (n *xmlNode) child(name string) *xmlNode {
	for i := range n.Children {
		if n.Children[i].XMLName.Local == name {
			return &n.Children[i]
		}
	}
	return nil
}

func (n *xmlNode) names() []string {
	var s []string
	for _, c := range n.Children {
		s = append(s, c.XMLName.Local)
	}
	return s
}

func (n *xmlNode) attr(name string) (string, bool) {
	for _, a := range n.Attrs {
		if a.Name.Local == name {
			return a.Value, true
		}
	}
	return "", false
}

func readXML(t *testing.T, path string) *xmlNode {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var root xmlNode
	if err := xml.Unmarshal(b, &root); err != nil {
		t.Fatalf("%s is not well-formed XML: %v", path, err)
	}
	return &root
}

// fileObjects returns a report's fileobjects by direction and start time.
func fileObjects(t *testing.T, root *xmlNode) map[string]*xmlNode {
	t.Helper()
	objs := map[string]*xmlNode{}
	for i := range root.Children {
		c := &root.Children[i]
		if c.XMLName.Local != "configuration" {
			continue
		}
		for j := range c.Children {
			fo := &c.Children[j]
			tc := fo.child("tcpflow")
			if fo.XMLName.Local != "fileobject" || tc == nil {
				t.Fatalf("configuration holds %s", fo.XMLName.Local)
			}
			var k []string
			for _, a := range []string{"src_ipn", "srcport", "dst_ipn", "dstport", "startime"} {
				v, _ := tc.attr(a)
				k = append(k, v)
			}
			key := strings.Join(k, " ")
			if objs[key] != nil {
				t.Fatalf("two fileobjects for %s", key)
			}
			objs[key] = fo
		}
	}
	return objs
}

// text returns a child element's text, "" without it.
func (n *xmlNode) text(name string) string {
	if c := n.child(name); c != nil {
		return c.Text
	}
	return ""
}

// The captures compared with tcpflow -e md5 -e http: HTTP of many kinds,
// IPv4 and IPv6, several link types, holes, padding.
var reportCaptures = []string{
	"gopacket__pcap__test_ethernet.pcap",
	"pcapplusplus__650HttpResponses.pcap",
	"pcapplusplus__four_ipv6_http_streams.pcap",
	"pcapplusplus__mysql.pcapng",
	"pcapplusplus__nanosecs_big_endian.pcap",
	"pcapplusplus__one_tcp_stream_max_seq.pcap",
	"pcapplusplus__sll.pcap",
	"pcapplusplus__tcp-reassembly.pcap",
	"tcpflow__local.pcap",
	"zeek__http-qinq-0.pcap",
	"zeek__http__bro.org.pcap",
	"zeek__http__http-large-gap.pcap",
}

// TestReportsAgainstTcpflow: report.xml has tcpflow's elements and
// attributes, parsed with encoding/xml, fileobject by fileobject; the
// values agree but where they must differ (times of the run, environment,
// rusage) and where the flow files differ on purpose (oracle_test.go's
// deliberateDifferences); the HTTP bodies have tcpflow's names and bytes
// where tcpflow is right.
func TestReportsAgainstTcpflow(t *testing.T) {
	lookTcpflow(t)
	for _, name := range reportCaptures {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join("testdata", "capture", name)
			tf := runTcpflowArgs(t, path, "-e", "md5", "-e", "http")
			fc, stderr, code := runFlowcapArgs(t, "-e", "md5", "-e", "http", path)
			if code != 0 {
				t.Fatalf("flowcap exits %d: %s", code, stderr)
			}
			// Files flowcap writes differently on purpose: their
			// fileobjects agree on the packets, not on what was stored.
			special := map[string]diffKind{}
			for _, d := range deliberateDifferences[name].diffs {
				special[d.file] = d.kind
			}
			// tcpflow takes Ethernet padding for data: on a SYN it counts a
			// violation, and later data overwriting it counts out of order,
			// even where the files come out the same.
			padded := slices.Contains(deliberateDifferences[name].why, whyPadding)
			compareReports(t, readXML(t, filepath.Join(tf, "report.xml")), readXML(t, filepath.Join(fc, "report.xml")), special, padded)
			compareBodies(t, tf, fc)
		})
	}
}

func compareReports(t *testing.T, tcpflow, flowcap *xmlNode, special map[string]diffKind, padded bool) {
	t.Helper()
	// The document's shape: the same elements, in the same order.
	if got, want := flowcap.names(), tcpflow.names(); !slices.Equal(got, want) {
		t.Errorf("<dfxml> holds %v, tcpflow's %v", got, want)
	}
	for _, path := range [][]string{{"creator"}, {"creator", "execution_environment"}, {"rusage"}, {"metadata"}} {
		a, b := tcpflow, flowcap
		for _, p := range path {
			a, b = a.child(p), b.child(p)
		}
		if a == nil || b == nil || !slices.Equal(b.names(), a.names()) {
			t.Errorf("%v: flowcap's elements differ from tcpflow's", path)
		}
	}
	if p := flowcap.child("creator").text("program"); p != "flowcap" {
		t.Errorf("program %q", p)
	}
	if cl := flowcap.child("creator").child("execution_environment").text("command_line"); !strings.HasPrefix(cl, "flowcap read -q -o ") {
		t.Errorf("command_line %q, want the real one", cl)
	}

	tfObjs, fcObjs := fileObjects(t, tcpflow), fileObjects(t, flowcap)
	base := func(fo *xmlNode) string { return filepath.Base(fo.text("filename")) }
	for key, tfo := range tfObjs {
		ffo := fcObjs[key]
		if ffo == nil {
			if special[base(tfo)] != onlyTcpflow {
				t.Errorf("only tcpflow reports %s (%s)", key, base(tfo))
			}
			continue
		}
		same := []string{"startime", "endtime", "family", "src_ipn", "dst_ipn", "srcport", "dstport", "packets", "len", "caplen"}
		_, differs := special[base(tfo)]
		if !differs && !padded {
			same = append(same, "out_of_order_count", "violations")
		}
		if !differs {
			if base(tfo) != base(ffo) || tfo.text("filesize") != ffo.text("filesize") {
				t.Errorf("%s: file %s of %s bytes, tcpflow's %s of %s", key, base(ffo), ffo.text("filesize"), base(tfo), tfo.text("filesize"))
			}
			if h := tfo.text("hashdigest"); h != "" && h != ffo.text("hashdigest") {
				t.Errorf("%s: md5 %s, tcpflow's %s", key, ffo.text("hashdigest"), h)
			}
		}
		tc, fcAttrs := tfo.child("tcpflow"), ffo.child("tcpflow")
		for _, a := range same {
			tv, tok := tc.attr(a)
			fv, fok := fcAttrs.attr(a)
			if tv != fv || tok != fok {
				t.Errorf("%s: %s=%q, tcpflow's %q", key, a, fv, tv)
			}
		}
		// MAC addresses: tcpflow reads them even where the link has none
		// (NULL, raw IP): flowcap writes them only from real headers.
		for _, a := range []string{"mac_daddr", "mac_saddr"} {
			if fv, ok := fcAttrs.attr(a); ok {
				if tv, _ := tc.attr(a); tv != fv {
					t.Errorf("%s: %s=%q, tcpflow's %q", key, a, fv, tv)
				}
			}
		}
		for _, a := range fcAttrs.Attrs {
			if !slices.Contains([]string{"startime", "endtime", "mac_daddr", "mac_saddr", "family", "src_ipn", "dst_ipn", "srcport", "dstport", "packets", "out_of_order_count", "violations", "len", "caplen"}, a.Name.Local) {
				t.Errorf("%s: attribute %s is not tcpflow's", key, a.Name.Local)
			}
		}
		for _, c := range ffo.Children {
			if !slices.Contains([]string{"filename", "filesize", "tcpflow", "hashdigest", "byte_runs"}, c.XMLName.Local) {
				t.Errorf("%s: element %s is not tcpflow's", key, c.XMLName.Local)
			}
		}
	}
	for key, ffo := range fcObjs {
		if tfObjs[key] == nil && special[base(ffo)] != onlyFlowcap {
			t.Errorf("only flowcap reports %s (%s)", key, base(ffo))
		}
	}
}

var bodyName = regexp.MustCompile(`^(.*)-HTTPBODY-(\d+)(\.[a-z0-9]+)?$`)

// compareBodies checks flowcap's HTTP bodies against tcpflow's: for each
// of tcpflow's, flowcap's (flows.jsonl says which) has its name (or the
// name with the extension of a type tcpflow does not know) and its bytes,
// or, when flowcap marked it cut (by a hole, where tcpflow writes zeros,
// or by the end of the flow), a prefix of them. flowcap may write bodies
// tcpflow does not: those of flows tcpflow never scans (closed at the end
// of the input) and the parts before a hole that tcpflow gives up on.
func compareBodies(t *testing.T, tf, fc string) {
	t.Helper()
	flows := readFlows(t, filepath.Join(fc, "flows.jsonl"))
	entries := map[string]flowfile.HTTPBody{}
	for _, f := range flows {
		for _, h := range f.HTTP {
			entries[fmt.Sprintf("%s %d", h.Flow, h.N)] = h
		}
	}
	tfFiles, _ := os.ReadDir(tf)
	scanned := map[string]bool{} // flows tcpflow wrote bodies of
	seen := map[string]bool{}    // flowcap's bodies matched
	for _, e := range tfFiles {
		m := bodyName.FindStringSubmatch(e.Name())
		if m == nil {
			continue
		}
		scanned[m[1]] = true
		h, ok := entries[m[1]+" "+strings.TrimLeft(m[2], "0")]
		if !ok {
			t.Errorf("tcpflow's %s: no such response in flows.jsonl", e.Name())
			continue
		}
		want, err := os.ReadFile(filepath.Join(tf, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if h.File == "" {
			if h.Cut != "hole" {
				t.Errorf("tcpflow's %s: flowcap wrote no body, and says it was not cut", e.Name())
			}
			continue
		}
		seen[h.File] = true
		if h.File != e.Name() && (m[3] != "" || h.File != e.Name()+"."+httpbody.Extension(h.ContentType)) {
			t.Errorf("tcpflow's %s is flowcap's %s", e.Name(), h.File)
		}
		got, err := os.ReadFile(filepath.Join(fc, h.File))
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case h.Cut == "" && !bytes.Equal(got, want):
			t.Errorf("%s: %d bytes differ from tcpflow's %d", h.File, len(got), len(want))
		case h.Cut != "" && !bytes.HasPrefix(want, got):
			t.Errorf("%s, cut (%s): its %d bytes are not the start of tcpflow's %d", h.File, h.Cut, len(got), len(want))
		}
	}
	for _, h := range entries {
		if h.File != "" && !seen[h.File] && scanned[h.Flow] && h.Cut == "" {
			t.Errorf("only flowcap writes %s, of a flow tcpflow scanned, not cut", h.File)
		}
	}
}

// readFlows parses flows.jsonl strictly: every line one Flow, no field
// the schema does not have.
func readFlows(t *testing.T, path string) []flowfile.Flow {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var flows []flowfile.Flow
	for i, line := range bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n")) {
		if len(line) == 0 {
			break
		}
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.DisallowUnknownFields()
		var f flowfile.Flow
		if err := dec.Decode(&f); err != nil {
			t.Fatalf("%s line %d: %v", path, i+1, err)
		}
		flows = append(flows, f)
	}
	return flows
}

// TestFlowsMatchReport: on every testdata capture, flows.jsonl and
// report.xml tell the same story: each fileobject is one stream of one
// connection, with its packets, bytes and file; each connection appears
// once, both directions joined.
func TestFlowsMatchReport(t *testing.T) {
	for _, name := range testCaptures(t) {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			dir, stderr, _ := runFlowcapArgs(t, "--shards", "3", filepath.Join("testdata", "capture", name))
			if _, err := os.Stat(filepath.Join(dir, "report.xml")); errors.Is(err, os.ErrNotExist) {
				if !strings.Contains(stderr, "flowcap:") {
					t.Fatalf("no report.xml, and nothing said")
				}
				return // an unreadable capture
			}
			objs := fileObjects(t, readXML(t, filepath.Join(dir, "report.xml")))
			flows := readFlows(t, filepath.Join(dir, "flows.jsonl"))
			uids := map[string]bool{}
			var packets, files, streams uint64
			for _, f := range flows {
				if uids[f.UID] {
					t.Errorf("uid %s twice", f.UID)
				}
				uids[f.UID] = true
				if !strings.HasPrefix(f.CommunityID, "1:") || f.Proto != "tcp" || (f.IP != 4 && f.IP != 6) || f.Orig == nil {
					t.Errorf("line %+v", f)
				}
				for _, s := range []*flowfile.Side{f.Orig, f.Resp} {
					if s == nil {
						continue
					}
					packets += s.Packets
					var size int64
					for _, file := range s.Files {
						files++
						size += file.Size
						fi, err := os.Stat(filepath.Join(dir, file.Name))
						if err != nil || fi.Size() != file.Size {
							t.Errorf("%s: %v, size %d in flows.jsonl", file.Name, err, file.Size)
						}
					}
					if size != s.FileBytes {
						t.Errorf("%s:%d: file_bytes %d, files of %d", s.Addr, s.Port, s.FileBytes, size)
					}
				}
			}
			var objPackets, objFiles uint64
			for _, fo := range objs {
				var n uint64
				fmt.Sscan(attrOf(fo, "packets"), &n)
				objPackets += n
				if fo.text("filename") != "" {
					objFiles++
				}
				streams++
			}
			if packets != objPackets || files != objFiles {
				t.Errorf("flows.jsonl: %d packets, %d files; report.xml: %d packets, %d files (%d streams)", packets, files, objPackets, objFiles, streams)
			}
		})
	}
}

func attrOf(fo *xmlNode, name string) string {
	v, _ := fo.child("tcpflow").attr(name)
	return v
}

// TestCommunityIDAgainstTshark: flows.jsonl's community_id is the one
// Wireshark computes for the same packets, IPv4 and IPv6.
func TestCommunityIDAgainstTshark(t *testing.T) {
	tshark, err := exec.LookPath("tshark")
	if err != nil {
		t.Fatal("tshark is not installed: run `make deps` (installs tcpflow, tcpdump, tshark)")
	}
	for _, name := range []string{"zeek__http__bro.org.pcap", "pcapplusplus__four_ipv6_http_streams.pcap"} {
		path := filepath.Join("testdata", "capture", name)
		out, err := exec.Command(tshark, "-r", path, "--enable-protocol", "communityid", "-Y", "tcp", "-T", "fields", "-e", "communityid").Output()
		if err != nil {
			t.Fatalf("tshark: %v", err)
		}
		ids := map[string]bool{}
		for _, id := range strings.Fields(string(out)) {
			ids[id] = true
		}
		dir, stderr, code := runFlowcapArgs(t, path)
		if code != 0 {
			t.Fatalf("%s: %s", name, stderr)
		}
		flows := readFlows(t, filepath.Join(dir, "flows.jsonl"))
		for _, f := range flows {
			if !ids[f.CommunityID] {
				t.Errorf("%s: %s:%d %s not among tshark's %d ids", name, f.Orig.Addr, f.Orig.Port, f.CommunityID, len(ids))
			}
		}
		if len(flows) == 0 {
			t.Errorf("%s: no flows", name)
		}
	}
}

// pcapPrefix returns the first n records of a pcap file, whole.
func pcapPrefix(t *testing.T, data []byte, n int) []byte {
	t.Helper()
	off := 24
	for ; n > 0 && off+16 <= len(data); n-- {
		off += 16 + int(uint32(data[off+8])|uint32(data[off+9])<<8|uint32(data[off+10])<<16|uint32(data[off+11])<<24)
	}
	return data[:off]
}

// TestReportsAfterInterrupt: a run stopped by a signal while connections
// are open still ends its reports properly: every open flow is closed
// (reason end) and reported, report.xml is well formed and in place.
func TestReportsAfterInterrupt(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "in.pcap")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(filepath.Join("testdata", "capture", "zeek__http__bro.org.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	go func() {
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			cancel(err)
			return
		}
		f.Write(pcapPrefix(t, data, 300)) // mid-capture: every connection is open
		cancel(interrupted{syscall.SIGINT})
		f.Close()
	}()
	out := filepath.Join(dir, "out")
	var stdout, stderr bytes.Buffer
	flowcapMu.Lock()
	code := run(ctx, []string{"flowcap", "read", "-q", "-o", out, fifo}, &stdout, &stderr)
	flowcapMu.Unlock()
	if code != 128+int(syscall.SIGINT) {
		t.Fatalf("exit status %d, want 130: %s", code, stderr.String())
	}
	objs := fileObjects(t, readXML(t, filepath.Join(out, "report.xml")))
	flows := readFlows(t, filepath.Join(out, "flows.jsonl"))
	ended := 0
	for _, f := range flows {
		if f.Closed == "end" {
			ended++
		}
	}
	if len(objs) == 0 || ended == 0 {
		t.Errorf("%d fileobjects, %d connections closed at the interruption", len(objs), ended)
	}
	if _, err := os.Stat(filepath.Join(out, "report.xml.partial")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("report.xml.partial left: %v", err)
	}
}

// TestFlowsSameForAnyShards: flows.jsonl holds the same lines (in another
// order) whatever the number of shards: uids and all.
func TestFlowsSameForAnyShards(t *testing.T) {
	for _, name := range []string{"zeek__http__bro.org.pcap", "pcapplusplus__650HttpResponses.pcap", "pcapplusplus__sll.pcap"} {
		path := filepath.Join("testdata", "capture", name)
		var lines [2][]string
		for i, shards := range []string{"1", "4"} {
			dir, stderr, code := runFlowcapArgs(t, "--shards", shards, "--md5", "--http", path)
			if code != 0 {
				t.Fatalf("%s: %s", name, stderr)
			}
			b, err := os.ReadFile(filepath.Join(dir, "flows.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			lines[i] = strings.Split(strings.TrimSpace(string(b)), "\n")
			slices.Sort(lines[i])
		}
		if !slices.Equal(lines[0], lines[1]) {
			t.Errorf("%s: flows.jsonl differs between 1 and 4 shards", name)
		}
	}
}
