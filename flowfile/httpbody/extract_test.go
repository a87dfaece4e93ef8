package httpbody

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"fmt"
	"io"
	"strings"
	"testing"
)

// memFiles collects the body files in memory.
type memFiles map[string]*bytes.Buffer

type memFile struct{ *bytes.Buffer }

func (memFile) Close() error { return nil }

func (m memFiles) create(name string) (io.WriteCloser, error) {
	if _, ok := m[name]; ok {
		return nil, fmt.Errorf("%s created twice", name)
	}
	b := new(bytes.Buffer)
	m[name] = b
	return memFile{b}, nil
}

func flowOf(s string, holes ...[2]int64) Flow {
	return Flow{R: strings.NewReader(s), Size: int64(len(s)), Holes: holes}
}

func gz(s string) string {
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

func zl(s string) string {
	var b bytes.Buffer
	w := zlib.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

func rawDeflate(s string) string {
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.DefaultCompression)
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

// chunk frames s in chunks of n bytes, with an extension on the first.
func chunk(s string, n int) string {
	var b strings.Builder
	for i := 0; i < len(s); i += n {
		part := s[i:min(i+n, len(s))]
		ext := ""
		if i == 0 {
			ext = ";name=value"
		}
		fmt.Fprintf(&b, "%x%s\r\n%s\r\n", len(part), ext, part)
	}
	b.WriteString("0\r\nTrailer: x\r\n\r\n")
	return b.String()
}

func resp(status string, headers string, body string) string {
	return "HTTP/1.1 " + status + "\r\n" + headers + "\r\n" + body
}

// want is one expected body file, or "" for a response without one.
type want struct {
	file   string // name; "" for none
	data   string
	cut    Cut
	prefix bool // the file holds a prefix of data
}

func TestExtract(t *testing.T) {
	page := strings.Repeat("<p>hello</p>\n", 100)
	tests := []struct {
		name       string
		flow       Flow
		req        string // client's flow, "" for none
		decompress bool
		want       []want
		stop       string // substring of Result.Stop
	}{
		{
			name: "content-length",
			flow: flowOf(resp("200 OK", "Content-Type: text/html; charset=utf-8\r\nContent-Length: 5\r\n", "hello")),
			want: []want{{"f-HTTPBODY-001.html", "hello", Whole, false}},
		},
		{
			name: "keep-alive and pipelined, each its own file, empty bodies none",
			flow: flowOf(resp("200 OK", "Content-Length: 3\r\nContent-Type: image/png\r\n", "PNG") +
				resp("204 No Content", "", "") +
				resp("200 OK", "Content-Length: 0\r\n", "") +
				resp("404 Not Found", "Content-Type: application/octet-stream\r\nContent-Length: 4\r\n", "gone")),
			want: []want{{"f-HTTPBODY-001.png", "PNG", Whole, false}, {}, {}, {"f-HTTPBODY-004", "gone", Whole, false}},
		},
		{
			name: "chunked, undone",
			flow: flowOf(resp("200 OK", "Transfer-Encoding: chunked\r\nContent-Type: text/plain\r\n", chunk(page, 100)) +
				resp("200 OK", "Content-Length: 2\r\n", "ok")),
			want: []want{{"f-HTTPBODY-001.txt", page, Whole, false}, {"f-HTTPBODY-002", "ok", Whole, false}},
		},
		{
			name:       "gzip inflated",
			flow:       flowOf(resp("200 OK", "Content-Encoding: gzip\r\nContent-Length: "+fmt.Sprint(len(gz(page)))+"\r\n", gz(page))),
			decompress: true,
			want:       []want{{"f-HTTPBODY-001", page, Whole, false}},
		},
		{
			name: "gzip kept (-Z)",
			flow: flowOf(resp("200 OK", "Content-Encoding: gzip\r\nContent-Length: "+fmt.Sprint(len(gz(page)))+"\r\n", gz(page))),
			want: []want{{"f-HTTPBODY-001", gz(page), Whole, false}},
		},
		{
			name:       "gzip and chunked",
			flow:       flowOf(resp("200 OK", "Transfer-Encoding: chunked\r\nContent-Encoding: gzip\r\nContent-Type: application/json\r\n", chunk(gz(page), 7))),
			decompress: true,
			want:       []want{{"f-HTTPBODY-001.json", page, Whole, false}},
		},
		{
			name:       "deflate as zlib and raw",
			flow:       flowOf(resp("200 OK", "Content-Encoding: deflate\r\nContent-Length: "+fmt.Sprint(len(zl(page)))+"\r\n", zl(page)) + resp("200 OK", "Content-Encoding: deflate\r\nContent-Length: "+fmt.Sprint(len(rawDeflate("raw")))+"\r\n", rawDeflate("raw"))),
			decompress: true,
			want:       []want{{"f-HTTPBODY-001", page, Whole, false}, {"f-HTTPBODY-002", "raw", Whole, false}},
		},
		{
			name:       "labelled gzip but not: written as received",
			flow:       flowOf(resp("200 OK", "Content-Encoding: gzip\r\nContent-Length: 5\r\n", "plain")),
			decompress: true,
			want:       []want{{"f-HTTPBODY-001", "plain", Whole, false}},
		},
		{
			name:       "damaged gzip: kept up to the damage",
			flow:       flowOf(resp("200 OK", "Content-Encoding: gzip\r\nContent-Length: 30\r\n", gz(page)[:30]) + resp("200 OK", "Content-Length: 1\r\n", "x")),
			decompress: true,
			want:       []want{{"f-HTTPBODY-001", page, Corrupt, true}, {"f-HTTPBODY-002", "x", Whole, false}},
		},
		{
			name: "body up to the end of the flow (no length)",
			flow: flowOf("HTTP/1.0 200 OK\r\nContent-Type: text/css\r\n\r\nbody{}\n"),
			want: []want{{"f-HTTPBODY-001.css", "body{}\n", Whole, false}},
		},
		{
			name: "flow ends inside a body",
			flow: flowOf(resp("200 OK", "Content-Length: 10\r\n", "short")),
			want: []want{{"f-HTTPBODY-001", "short", End, false}},
		},
		{
			name: "1xx responses numbered, without body",
			flow: flowOf(resp("100 Continue", "", "") + resp("200 OK", "Content-Length: 2\r\n", "ok")),
			want: []want{{}, {"f-HTTPBODY-002", "ok", Whole, false}},
		},
		{
			name: "304 has no body whatever its headers",
			flow: flowOf(resp("304 Not Modified", "Content-Length: 100\r\n", "") + resp("200 OK", "Content-Length: 2\r\n", "ok")),
			want: []want{{}, {"f-HTTPBODY-002", "ok", Whole, false}},
		},
		{
			name: "HEAD response: the client's flow says there is no body",
			flow: flowOf(resp("200 OK", "Content-Length: 100\r\n", "") + resp("200 OK", "Content-Length: 2\r\n", "ok")),
			req:  "HEAD /a HTTP/1.1\r\nHost: x\r\n\r\nPOST /b HTTP/1.1\r\nContent-Length: 4\r\n\r\nbodyGET /c HTTP/1.1\r\n\r\n",
			want: []want{{}, {"f-HTTPBODY-002", "ok", Whole, false}},
		},
		{
			name: "upgrade stops",
			flow: flowOf(resp("101 Switching Protocols", "Upgrade: websocket\r\nConnection: Upgrade\r\n", "\x81\x05hello")),
			want: []want{{}},
			stop: "switched protocols",
		},
		{
			name: "LF line ends and folded header",
			flow: flowOf("HTTP/1.1 200 OK\nContent-Type:\n text/plain\nContent-Length: 2\n\nok"),
			want: []want{{"f-HTTPBODY-001.txt", "ok", Whole, false}},
		},
		{
			name: "not HTTP after a response: stops there",
			flow: flowOf(resp("200 OK", "Content-Length: 2\r\n", "ok") + "garbage\r\n\r\n"),
			want: []want{{"f-HTTPBODY-001", "ok", Whole, false}},
			stop: "response 2 at offset 40",
		},
		{
			name: "conflicting lengths",
			flow: flowOf(resp("200 OK", "Content-Length: 2\r\nContent-Length: 3\r\n", "ok")),
			stop: "two Content-Lengths",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			files := memFiles{}
			var req *Flow
			if tc.req != "" {
				f := flowOf(tc.req)
				req = &f
			}
			res, err := Extract("f", tc.flow, req, Options{Decompress: tc.decompress, Create: files.create})
			if err != nil {
				t.Fatal(err)
			}
			check(t, res, files, tc.want)
			if !strings.Contains(res.Stop, tc.stop) || (tc.stop == "" && res.Stop != "") {
				t.Errorf("Stop = %q, want %q", res.Stop, tc.stop)
			}
		})
	}
}

func check(t *testing.T, res Result, files memFiles, want []want) {
	t.Helper()
	if len(res.Bodies) != len(want) {
		t.Fatalf("%d responses %v, want %d", len(res.Bodies), res.Bodies, len(want))
	}
	written := 0
	for i, w := range want {
		b := res.Bodies[i]
		if b.N != i+1 {
			t.Errorf("response %d numbered %d", i+1, b.N)
		}
		if b.Name != w.file || b.Cut != w.cut {
			t.Errorf("response %d: file %q cut %v (%s), want %q cut %v", i+1, b.Name, b.Cut, b.Err, w.file, w.cut)
		}
		if w.file == "" {
			continue
		}
		written++
		got := files[w.file]
		if w.prefix {
			if got == nil || got.Len() == 0 || !strings.HasPrefix(w.data, got.String()) || b.Size != int64(got.Len()) {
				t.Errorf("%s holds %d bytes (Size %d), not a prefix of the %d expected", w.file, got.Len(), b.Size, len(w.data))
			}
			continue
		}
		if got == nil || got.String() != w.data {
			t.Errorf("%s holds %.80q, want %.80q", w.file, got, w.data)
		}
		if b.Size != int64(len(w.data)) {
			t.Errorf("%s: Size %d, want %d", w.file, b.Size, len(w.data))
		}
	}
	if len(files) != written || res.Written != written {
		t.Errorf("%d files, Written %d, want %d", len(files), res.Written, written)
	}
}

// TestHoles: a hole cuts the body it falls in, which keeps what came
// before; parsing goes on after the body when its end is known.
func TestHoles(t *testing.T) {
	first := resp("200 OK", "Content-Length: 10\r\n", "0123456789")
	second := resp("200 OK", "Content-Length: 2\r\n", "ok")
	at := int64(strings.Index(first, "0123"))
	chunked := resp("200 OK", "Transfer-Encoding: chunked\r\n", chunk("abcdefghij", 5))
	ca := int64(strings.Index(chunked, "abcde"))
	var numbers strings.Builder
	for i := range 3000 {
		fmt.Fprintf(&numbers, "%d,", i*i)
	}
	gzBody := gz(numbers.String())
	gzResp := resp("200 OK", "Content-Encoding: gzip\r\nContent-Length: "+fmt.Sprint(len(gzBody))+"\r\n", gzBody)
	ga := int64(strings.Index(gzResp, "\r\n\r\n") + 4)
	tests := []struct {
		name string
		flow Flow
		want []want
		stop string
	}{
		{
			name: "in a Content-Length body",
			flow: flowOf(first+second, [2]int64{at + 4, at + 6}),
			want: []want{{"f-HTTPBODY-001", "0123", Hole, false}, {"f-HTTPBODY-002", "ok", Whole, false}},
		},
		{
			name: "at a body's first byte",
			flow: flowOf(first+second, [2]int64{at, at + 3}),
			want: []want{{"", "", Hole, false}, {"f-HTTPBODY-002", "ok", Whole, false}},
		},
		{
			name: "in chunk data: the chunks after it are framed on",
			flow: flowOf(chunked+second, [2]int64{ca + 2, ca + 3}),
			want: []want{{"f-HTTPBODY-001", "ab", Hole, false}, {"f-HTTPBODY-002", "ok", Whole, false}},
		},
		{
			name: "over a chunk-size line: the rest is lost",
			flow: flowOf(chunked+second, [2]int64{ca + 5, ca + 9}),
			want: []want{{"f-HTTPBODY-001", "abcde", Hole, false}},
			stop: "body's end is not in the flow",
		},
		{
			name: "in a head",
			flow: flowOf(first+second, [2]int64{int64(len(first)) + 3, int64(len(first)) + 4}),
			want: []want{{"f-HTTPBODY-001", "0123456789", Whole, false}},
			stop: "a hole in its head",
		},
		{
			name: "between responses",
			flow: flowOf(first+"\x00\x00"+second, [2]int64{int64(len(first)), int64(len(first)) + 2}),
			want: []want{{"f-HTTPBODY-001", "0123456789", Whole, false}},
			stop: "between responses",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			files := memFiles{}
			res, err := Extract("f", tc.flow, nil, Options{Create: files.create})
			if err != nil {
				t.Fatal(err)
			}
			check(t, res, files, tc.want)
			if !strings.Contains(res.Stop, tc.stop) || (tc.stop == "" && res.Stop != "") {
				t.Errorf("Stop = %q, want %q", res.Stop, tc.stop)
			}
		})
	}

	// Inflating stops at the hole with what it could inflate before it.
	files := memFiles{}
	mid := ga + int64(len(gzBody))/2
	res, err := Extract("f", flowOf(gzResp, [2]int64{mid, mid + 2}), nil, Options{Decompress: true, Create: files.create})
	if err != nil {
		t.Fatal(err)
	}
	check(t, res, files, []want{{"f-HTTPBODY-001", numbers.String(), Hole, true}})
	if n := res.Bodies[0].Size; n >= int64(numbers.Len()) {
		t.Errorf("gzip cut by a hole: all %d bytes inflated", n)
	}
}

// TestBomb: a body that inflates past MaxRatio times its compressed size
// is kept up to the cap.
func TestBomb(t *testing.T) {
	zeros := gz(strings.Repeat("\x00", 8<<20)) // about 8 KiB
	flow := flowOf(resp("200 OK", "Content-Encoding: gzip\r\nContent-Length: "+fmt.Sprint(len(zeros))+"\r\n", zeros) + resp("200 OK", "Content-Length: 2\r\n", "ok"))
	files := memFiles{}
	res, err := Extract("f", flow, nil, Options{Decompress: true, MaxRatio: 100, Create: files.create})
	if err != nil {
		t.Fatal(err)
	}
	b := res.Bodies[0]
	if b.Cut != Ratio || b.Size != bombFloor || int64(files[b.Name].Len()) != b.Size {
		t.Errorf("bomb: %+v, file %d bytes", b, files[b.Name].Len())
	}
	if len(res.Bodies) != 2 || res.Bodies[1].Name != "f-HTTPBODY-002" {
		t.Errorf("the response after the bomb: %v", res.Bodies)
	}

	// Many small bombs share the flow's first MiB: the total stays within
	// it and the ratio, however many there are.
	small := gz(strings.Repeat("\x00", 100<<10)) // about 130 bytes for 100 KiB
	var s strings.Builder
	for range 50 {
		s.WriteString(resp("200 OK", "Content-Encoding: gzip\r\nContent-Length: "+fmt.Sprint(len(small))+"\r\n", small))
	}
	files = memFiles{}
	res, err = Extract("f", flowOf(s.String()), nil, Options{Decompress: true, MaxRatio: 100, Create: files.create})
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	cut := 0
	for _, b := range res.Bodies {
		total += b.Size
		if b.Cut == Ratio {
			cut++
		}
	}
	if limit := max(bombFloor, 100*int64(50*len(small))); total > limit || cut == 0 || len(res.Bodies) != 50 {
		t.Errorf("50 small bombs: %d bytes inflated (limit %d), %d cut, %d responses", total, limit, cut, len(res.Bodies))
	}
}

// TestOffsets: Offset is where the body's data starts in the flow file,
// the first chunk's data for a chunked body (tcpflow's file_offset).
func TestOffsets(t *testing.T) {
	a := resp("200 OK", "Content-Length: 3\r\n", "abc")
	b := resp("200 OK", "Transfer-Encoding: chunked\r\n", chunk("xyz", 2))
	files := memFiles{}
	res, err := Extract("f", flowOf(a+b), nil, Options{Create: files.create})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := res.Bodies[0].Offset, int64(strings.Index(a, "abc")); got != want {
		t.Errorf("offset %d, want %d", got, want)
	}
	if got, want := res.Bodies[1].Offset, int64(len(a)+strings.Index(b, "xy")); got != want {
		t.Errorf("chunked offset %d, want %d", got, want)
	}
	if res.Bodies[1].Wire != 3 {
		t.Errorf("Wire %d, want 3", res.Bodies[1].Wire)
	}
}

// TestMaxListed: past MaxListed responses are counted, their files
// written all the same.
func TestMaxListed(t *testing.T) {
	var s strings.Builder
	for range 5 {
		s.WriteString(resp("200 OK", "Content-Length: 1\r\n", "x"))
	}
	files := memFiles{}
	res, err := Extract("f", flowOf(s.String()), nil, Options{MaxListed: 2, Create: files.create})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Bodies) != 2 || res.Unlisted != 3 || res.Written != 5 || len(files) != 5 {
		t.Errorf("listed %d, unlisted %d, written %d, files %d", len(res.Bodies), res.Unlisted, res.Written, len(files))
	}
}

func TestExtension(t *testing.T) {
	for ct, ext := range map[string]string{
		"text/html; charset=UTF-8":  "html",
		" Image/JPEG ":              "jpg",
		"application/octet-stream":  "",
		"application/x-unknown-foo": "",
		"":                          "",
		"text/javascript;x=y":       "js",
	} {
		if got := Extension(ct); got != ext {
			t.Errorf("Extension(%q) = %q, want %q", ct, got, ext)
		}
	}
}

func TestIsResponse(t *testing.T) {
	for s, want := range map[string]bool{"HTTP/1.1 200 OK": true, "HTTP/1.": true, "HTTP/2 ": false, "GET / HTTP/1.1": false, "": false} {
		if IsResponse([]byte(s)) != want {
			t.Errorf("IsResponse(%q) = %v", s, !want)
		}
	}
}

// TestQuota: when Reserve refuses room, the body is cut there ("quota")
// and no later body gets a file; what was reserved is what was written.
func TestQuota(t *testing.T) {
	big := strings.Repeat("a", 100<<10) // written in several pieces
	flow := flowOf(resp("200 OK", "Content-Length: 3\r\n", "abc") +
		resp("200 OK", "Content-Length: "+fmt.Sprint(len(big))+"\r\n", big) +
		resp("200 OK", "Content-Length: 2\r\n", "ok"))
	room := int64(50 << 10)
	var granted int64
	reserve := func(n int64) bool {
		if n > room {
			room = 0 // once full, nothing more fits
			return false
		}
		room -= n
		granted += n
		return true
	}
	files := memFiles{}
	res, err := Extract("f", flow, nil, Options{Create: files.create, Reserve: reserve})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Bodies) != 3 {
		t.Fatalf("%d bodies, want 3: %v", len(res.Bodies), res.Bodies)
	}
	if b := res.Bodies[0]; b.Cut != Whole || files[b.Name].String() != "abc" {
		t.Errorf("first body: %+v", b)
	}
	if b := res.Bodies[1]; b.Cut != Quota || b.Size >= int64(len(big)) || files[b.Name].String() != big[:b.Size] {
		t.Errorf("second body: %+v, want it cut by the quota, a prefix kept", b)
	}
	if b := res.Bodies[2]; b.Cut != Quota || b.Name != "" || b.Size != 0 {
		t.Errorf("third body: %+v, want no file, cut by the quota", b)
	}
	var written int64
	for _, f := range files {
		written += int64(f.Len())
	}
	if written != granted {
		t.Errorf("%d bytes in body files, %d reserved", written, granted)
	}
	if Quota.String() != "quota" {
		t.Errorf("Quota is %q", Quota)
	}
}
