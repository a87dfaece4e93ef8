package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowcap/flowcap/capture/capturetest"
	"github.com/flowcap/flowcap/flowfile"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// Generated HTTP: responses whose bodies are known, through the whole
// pipeline (capture, reassembly, flow files, --http).

func gzipped(s string) string {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	io.WriteString(w, s)
	w.Close()
	return b.String()
}

func chunked(s string, n int) string {
	var b strings.Builder
	for i := 0; i < len(s); i += n {
		part := s[i:min(i+n, len(s))]
		fmt.Fprintf(&b, "%x\r\n%s\r\n", len(part), part)
	}
	return b.String() + "0\r\n\r\n"
}

func response(status, headers, body string) string {
	return "HTTP/1.1 " + status + "\r\n" + headers + "\r\n" + body
}

func cl(body string) string { return fmt.Sprintf("Content-Length: %d\r\n", len(body)) }

// page is text with no zero byte, so that a hole (zeros) shows in it.
func page(n int) string {
	var b strings.Builder
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "<p>line %d of the page</p>\n", i)
	}
	return b.String()[:n]
}

// httpConn is one connection: pipelined requests, then the responses.
func httpConn(i int, requests []string, responses []string) capturetest.Conn {
	c, s := capturetest.Endpoints(i, i%2 == 1)
	return capturetest.Conn{Client: c, Server: s,
		ClientData: capturetest.Bytes(strings.Join(requests, "")), ServerData: capturetest.Bytes(strings.Join(responses, ""))}
}

func get(uri string) string  { return "GET " + uri + " HTTP/1.1\r\nHost: x\r\n\r\n" }
func head(uri string) string { return "HEAD " + uri + " HTTP/1.1\r\nHost: x\r\n\r\n" }

// TestHTTPGenerated: keep-alive and pipelined responses, chunked, gzip,
// responses without body, a HEAD, each body in its own file with the
// bytes sent; -Z keeps the gzip.
func TestHTTPGenerated(t *testing.T) {
	big := page(40000)
	small := page(300)
	js := "function f(){return 1}\n"
	s := &capturetest.Scenario{Seed: 7, Reorder: 0.2, Duplicate: 0.1, Conns: []capturetest.Conn{
		httpConn(0, []string{get("/a"), get("/b"), get("/c"), get("/d"), get("/e")}, []string{
			response("200 OK", "Content-Type: text/html\r\n"+cl(big), big),
			response("200 OK", "Content-Type: text/css\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n", chunked(gzipped(small), 100)),
			response("204 No Content", "", ""),
			response("304 Not Modified", "Content-Length: 99\r\n", ""),
			response("200 OK", "Content-Type: text/javascript\r\nContent-Encoding: gzip\r\n"+cl(gzipped(js)), gzipped(js)),
		}),
		httpConn(1, []string{head("/h"), get("/g")}, []string{
			response("200 OK", "Content-Type: image/png\r\n"+cl(big), ""), // HEAD: the length of what GET would send
			response("200 OK", "Content-Type: image/png\r\n"+cl(small), small),
		}),
	}}
	path := writeCapture(t, s, capturetest.Format{})
	c0 := s.Conns[0].Name(1)
	c1 := s.Conns[1].Name(1)
	for _, raw := range []bool{false, true} {
		args := []string{"--http", path}
		if raw {
			args = append([]string{"-Z"}, args...)
		}
		dir, stderr, code := runFlowcapArgs(t, args...)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		css, jsWant := small, js
		if raw {
			css, jsWant = gzipped(small), gzipped(js)
		}
		want := map[string]string{
			c0 + "-HTTPBODY-001.html": big,
			c0 + "-HTTPBODY-002.css":  css,
			c0 + "-HTTPBODY-005.js":   jsWant,
			c1 + "-HTTPBODY-002.png":  small,
		}
		checkBodies(t, dir, want)
		flows := readFlows(t, filepath.Join(dir, "flows.jsonl"))
		var statuses []string
		for _, f := range flows {
			for _, h := range f.HTTP {
				statuses = append(statuses, fmt.Sprintf("%d %s %s %s", h.Status, h.Method, h.URI, h.Cut))
			}
		}
		if got := strings.Join(statuses, "|"); got != "200 GET /a |200 GET /b |204 GET /c |304 GET /d |200 GET /e |200 HEAD /h |200 GET /g " &&
			got != "200 HEAD /h |200 GET /g |200 GET /a |200 GET /b |204 GET /c |304 GET /d |200 GET /e " {
			t.Errorf("responses in flows.jsonl: %s", got)
		}
	}
}

// checkBodies: the output directory holds exactly these body files.
func checkBodies(t *testing.T, dir string, want map[string]string) {
	t.Helper()
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if !strings.Contains(e.Name(), "-HTTPBODY-") {
			continue
		}
		w, ok := want[e.Name()]
		if !ok {
			t.Errorf("unexpected body file %s", e.Name())
			continue
		}
		delete(want, e.Name())
		got, _ := os.ReadFile(filepath.Join(dir, e.Name()))
		if string(got) != w {
			t.Errorf("%s: %d bytes, want %d", e.Name(), len(got), len(w))
		}
	}
	for name := range want {
		t.Errorf("no body file %s", name)
	}
}

// TestHTTPHole: a segment lost in the middle of a body: the body is kept
// up to the hole and marked cut in flows.jsonl; the next response, after
// the body's end, is extracted whole.
func TestHTTPHole(t *testing.T) {
	big := page(60000)
	after := "after the hole"
	s := &capturetest.Scenario{Seed: 3, Drop: 0.03, Conns: []capturetest.Conn{
		httpConn(0, []string{get("/big"), get("/after")}, []string{
			response("200 OK", cl(big), big),
			response("200 OK", cl(after), after),
		}),
	}}
	name := s.Conns[0].Name(1)
	flow := s.Expected()[name]
	first := strings.Index(string(flow), "\r\n\r\n") + 4
	hole := bytes.IndexByte(flow, 0)
	if hole < first || hole >= first+len(big) || bytes.Contains(flow[first+len(big):], []byte{0}) {
		t.Fatalf("seed: want a hole in the first body only; first zero at %d, body at [%d, %d)", hole, first, first+len(big))
	}
	dir, stderr, code := runFlowcapArgs(t, "--http", writeCapture(t, s, capturetest.Format{}))
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	checkBodies(t, dir, map[string]string{
		name + "-HTTPBODY-001": big[:hole-first],
		name + "-HTTPBODY-002": after,
	})
	flows := readFlows(t, filepath.Join(dir, "flows.jsonl"))
	if len(flows) != 1 || len(flows[0].HTTP) != 2 {
		t.Fatalf("flows.jsonl: %+v", flows)
	}
	h := flows[0].HTTP
	if h[0].Cut != "hole" || h[0].Size != int64(hole-first) || h[1].Cut != "" || flows[0].Resp.Holes == 0 {
		t.Errorf("flows.jsonl: %+v, resp %+v", h, flows[0].Resp)
	}
}

// TestPcapPerFlow: -K writes NAME.pcap beside each flow file NAME, with
// the capture's link type and every packet of the stream; flowcap
// reading a stream's pcap writes that stream's flow file again.
func TestPcapPerFlow(t *testing.T) {
	conns := compatConns(3, false, 5000, 20000)
	conns = append(conns, httpConn(3, []string{get("/")}, nil)) // the server sends no data: its pcap alone
	conns[1].Link = capturetest.SLL
	s := &capturetest.Scenario{Seed: 11, Reorder: 0.1, Conns: conns}
	path := writeCapture(t, s, capturetest.Format{NG: true}) // pcapng: one link type per interface
	dir, stderr, code := runFlowcapArgs(t, "-K", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	flows := readFlows(t, filepath.Join(dir, "flows.jsonl"))
	var pcaps int
	for _, f := range flows {
		for _, side := range []*flowfile.Side{f.Orig, f.Resp} {
			if side == nil {
				continue
			}
			for _, file := range side.Files {
				pcaps++
				if file.Pcap != file.Name+".pcap" && file.Name != "" {
					t.Errorf("%s: pcap %q", file.Name, file.Pcap)
				}
				checkFlowPcap(t, dir, file, side.Packets)
			}
		}
	}
	if pcaps != 8 {
		t.Errorf("%d pcaps, want 8 (one per direction)", pcaps)
	}
	if _, err := os.Stat(filepath.Join(dir, s.Conns[3].Name(1))); err == nil {
		t.Errorf("the server's empty flow file was left")
	}
}

// checkFlowPcap reads a stream's pcap: its link type, its packets, and
// what flowcap makes of it.
func checkFlowPcap(t *testing.T, dir string, file flowfile.File, packets uint64) {
	t.Helper()
	f, err := os.Open(filepath.Join(dir, file.Pcap))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := pcapgo.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if lt := r.LinkType(); lt != layers.LinkTypeEthernet && lt != layers.LinkTypeLinuxSLL {
		t.Errorf("%s: link type %v", file.Pcap, lt)
	}
	var n uint64
	for {
		if _, _, err := r.ReadPacketData(); err != nil {
			break
		}
		n++
	}
	if n != packets {
		t.Errorf("%s: %d packets, the report says %d", file.Pcap, n, packets)
	}
	if file.Name == "" {
		return
	}
	again, stderr, code := runFlowcapArgs(t, "--no-report", "--no-flows", f.Name())
	if code != 0 {
		t.Fatalf("flowcap on %s: %s", file.Pcap, stderr)
	}
	want, _ := os.ReadFile(filepath.Join(dir, file.Name))
	got, err := os.ReadFile(filepath.Join(again, file.Name))
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("%s read again: %v, %d bytes, want %d", file.Pcap, err, len(got), len(want))
	}
}
