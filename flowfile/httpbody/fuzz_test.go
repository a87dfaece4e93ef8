package httpbody

import (
	"fmt"
	"strings"
	"testing"
)

// FuzzExtract: any flow, any hole, any client flow: no panic, every body
// file written once and as big as its Body says, offsets inside the flow,
// and without inflating no more body bytes than the flow holds.
func FuzzExtract(f *testing.F) {
	page := strings.Repeat("fuzz me ", 50)
	seeds := []string{
		resp("200 OK", "Content-Type: text/html\r\nContent-Length: 5\r\n", "hello") + resp("204 No Content", "", ""),
		resp("200 OK", "Transfer-Encoding: chunked\r\n", chunk(page, 33)),
		resp("200 OK", "Content-Encoding: gzip\r\nContent-Length: "+fmt.Sprint(len(gz(page)))+"\r\n", gz(page)),
		resp("200 OK", "Transfer-Encoding: chunked\r\nContent-Encoding: deflate\r\n", chunk(zl(page), 10)),
		resp("100 Continue", "", "") + resp("101 Switching Protocols", "Upgrade: h2c\r\n", "\x00\x00"),
		"HTTP/1.0 200 OK\nContent-Type: image/png\n\n\x89PNG",
		"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\nx",
	}
	for i, s := range seeds {
		f.Add([]byte(s), uint16(i*7), uint8(i), []byte("GET / HTTP/1.1\r\n\r\nHEAD / HTTP/1.1\r\n\r\n"), i%2 == 0)
	}
	f.Fuzz(func(t *testing.T, flow []byte, holeAt uint16, holeLen uint8, req []byte, decompress bool) {
		fl := flowOf(string(flow))
		if holeLen > 0 && int(holeAt) < len(flow) {
			fl.Holes = [][2]int64{{int64(holeAt), min(int64(holeAt)+int64(holeLen), int64(len(flow)))}}
		}
		var rq *Flow
		if len(req) > 0 {
			r := flowOf(string(req))
			rq = &r
		}
		files := memFiles{}
		res, err := Extract("f", fl, rq, Options{Decompress: decompress, MaxRatio: 10, Create: files.create})
		if err != nil {
			t.Fatal(err)
		}
		var total int64
		for _, b := range res.Bodies {
			if b.Offset >= int64(len(flow)) || b.Wire > int64(len(flow)) {
				t.Fatalf("%v: offset %d, %d bytes in a %d-byte flow", b, b.Offset, b.Wire, len(flow))
			}
			if b.Name == "" {
				if b.Size != 0 {
					t.Fatalf("%v without a file", b)
				}
				continue
			}
			if files[b.Name] == nil || int64(files[b.Name].Len()) != b.Size || b.Size == 0 {
				t.Fatalf("%v: file %q holds %d bytes", b, b.Name, files[b.Name].Len())
			}
			total += b.Wire
		}
		if len(files) != res.Written {
			t.Fatalf("%d files, Written %d", len(files), res.Written)
		}
		if !decompress {
			var sizes int64
			for _, b := range files {
				sizes += int64(b.Len())
			}
			if sizes > int64(len(flow)) || sizes != total {
				t.Fatalf("bodies of %d bytes (%d on the wire) from a %d-byte flow", sizes, total, len(flow))
			}
		}
	})
}
