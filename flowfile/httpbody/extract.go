// Package httpbody takes the HTTP/1.x response bodies out of a flow file,
// as tcpflow -e http does: for a server-to-client flow that starts with
// "HTTP/1.", each response's body goes to its own file,
// NAME-HTTPBODY-NNN[.EXT] (NNN the response's number in the flow, from
// 001; EXT from its Content-Type), with the chunked coding undone and
// gzip or deflate content inflated. Keep-alive and pipelined responses
// each get their own file; empty bodies get none.
//
// Where tcpflow's http-parser cannot know, the client's flow, when given,
// says which requests were HEAD or CONNECT. A hole in the flow (bytes the
// capture never carried) cuts the body it falls in: what came before it is
// kept and the body is marked; parsing goes on after the body when its
// framing says where that is. Memory stays bounded whatever the flow: the
// file is read through one buffer, bodies are streamed to disk, a head is
// at most 80 KiB, and inflating stops when a flow's bodies grow past
// MaxRatio times their compressed size (decompression bombs).
package httpbody

import (
	"bufio"
	"compress/flate"
	"compress/gzip"
	"compress/zlib"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Flow is a flow file to read: its bytes, its size, and its holes as
// sorted [start, end) offset ranges (reassembly.Stream.AppendHoles).
type Flow struct {
	R     io.ReaderAt
	Size  int64
	Holes [][2]int64
}

// Options control the extraction. The zero value inflates nothing and
// cannot create files: set Create.
type Options struct {
	// Decompress inflates gzip and deflate bodies (tcpflow does, unless
	// -Z); otherwise they are written as they came.
	Decompress bool

	// MaxRatio caps the bytes inflated from one flow's bodies at this
	// many times the compressed bytes read (past the first MiB): the body
	// that would pass it is cut. Counted per flow, not per body, so that
	// many small bombs cannot each take the first MiB. 0 means
	// DefaultMaxRatio.
	MaxRatio int64

	// MaxListed caps the Bodies returned for one flow (the files are
	// written all the same). 0 means DefaultMaxListed.
	MaxListed int

	// Create makes the file of a body, name as BodyName gives it. It is
	// called only for a body that has at least one byte.
	Create func(name string) (io.WriteCloser, error)

	// Reserve, if set, is asked for room on disk before each write to a
	// body file; when it says no, the body is cut there (Quota).
	Reserve func(n int64) bool
}

// Defaults for the zero Options fields.
const (
	DefaultMaxRatio  = 200
	DefaultMaxListed = 10000
	bombFloor        = 1 << 20 // inflated bytes always allowed per flow
)

// Cut says why a body is incomplete.
type Cut uint8

const (
	Whole   Cut = iota // complete
	Hole               // a hole in the flow: kept up to it
	End                // the flow file ends first (capture ended, -b)
	Ratio              // inflating passed MaxRatio: kept up to there
	Corrupt            // the compressed data is damaged: kept up to there
	Quota              // no room left on disk (Options.Reserve): kept up to there
)

var cutNames = [...]string{"", "hole", "end", "ratio", "corrupt", "quota"}

func (c Cut) String() string { return cutNames[c] }

// Body is one response found in a flow, body or not.
type Body struct {
	N           int    // the response's number in the flow, from 1 (1xx included, as tcpflow counts)
	Status      int    // its status code
	Method, URI string // its request's, if the client's flow was given and parsed
	ContentType string
	Encoding    string // Content-Encoding, lower case

	Offset int64 // where the body's data starts in the flow file (tcpflow's byte_run file_offset); -1 if none
	Wire   int64 // body bytes in the flow, chunk framing taken off

	Name string // the body's file, "" when nothing was written
	Size int64  // bytes written to it: inflated, unless -Z
	Cut  Cut
	Err  string // what went wrong decoding it, if anything
}

// Result is what Extract found in one flow.
type Result struct {
	Bodies   []Body // at most Options.MaxListed
	Unlisted int    // responses past that
	Written  int    // body files written
	Stop     string // why parsing stopped before the flow's end, "" if it did not
}

// BodyName is tcpflow's name for the body of response n of flow name.
func BodyName(flow string, n int, ext string) string {
	s := flow + "-HTTPBODY-" + fmt.Sprintf("%03d", n)
	if ext != "" {
		s += "." + ext
	}
	return s
}

// IsResponse reports whether a flow file beginning with prefix holds
// HTTP/1.x responses (tcpflow's test: it starts with "HTTP/1.").
func IsResponse(prefix []byte) bool {
	return len(prefix) >= 7 && string(prefix[:7]) == "HTTP/1."
}

// Extract writes the bodies of the responses in the flow file named name
// (resp). req, if not nil, is the client's flow, read alongside for the
// methods of the requests. An error is returned only when a body file
// cannot be written; what is wrong with the flow is in the Result.
func Extract(name string, resp Flow, req *Flow, opt Options) (Result, error) {
	if opt.MaxRatio <= 0 {
		opt.MaxRatio = DefaultMaxRatio
	}
	if opt.MaxListed <= 0 {
		opt.MaxListed = DefaultMaxListed
	}
	var res Result
	fr := newFlowReader(resp)
	var reqs *requests
	if req != nil {
		reqs = &requests{fr: newFlowReader(*req)}
	}
	copyBuf := make([]byte, 32<<10)
	var bomb inflation
	for n := 1; ; n++ {
		if _, err := fr.limit(); err != nil {
			if errors.Is(err, errHole) {
				res.Stop = fmt.Sprintf("a hole at offset %d, between responses", fr.pos)
			}
			return res, nil
		}
		at := fr.pos
		h, err := readHead(fr, false)
		if err != nil {
			res.Stop = fmt.Sprintf("response %d at offset %d: %v", n, at, describe(err))
			return res, nil
		}
		b := Body{N: n, Status: h.status, ContentType: h.contentType, Encoding: h.encoding, Offset: -1}
		method := ""
		if reqs != nil {
			if rq := reqs.peek(); rq != nil {
				method, b.Method, b.URI = rq.method, rq.method, rq.uri
				if h.status/100 != 1 || h.status == 101 {
					reqs.take() // a 1xx other than 101 comes before the final response
				}
			}
		}
		mode := responseFraming(h, method)
		body := newBodyReader(fr, mode, h.length)
		if err := writeBody(&b, name, body, opt, &bomb, copyBuf); err != nil {
			return res, err
		}
		if len(res.Bodies) < opt.MaxListed {
			res.Bodies = append(res.Bodies, b)
		} else {
			res.Unlisted++
		}
		if b.Name != "" {
			res.Written++
		}
		switch {
		case mode == tunnel:
			res.Stop = fmt.Sprintf("response %d switched protocols (%d)", n, h.status)
			return res, nil
		case mode == byClose:
			return res, nil // the body ran to the end (or to a hole)
		case b.Cut == End:
			return res, nil // the flow ended inside the body
		case !body.skip():
			res.Stop = fmt.Sprintf("response %d: its body's end is not in the flow", n)
			return res, nil
		}
	}
}

// describe words a parse error for Result.Stop.
func describe(err error) string {
	switch {
	case errors.Is(err, errHole):
		return "a hole in its head"
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "the flow ends inside its head"
	}
	return err.Error()
}

// writeBody streams one body to its file, inflating it if asked, and
// fills in b. Only a failure to write the file is returned.
// inflation counts a flow's inflated bodies, against decompression bombs.
type inflation struct{ in, out int64 } // compressed bytes read, bytes inflated

func writeBody(b *Body, flow string, body *bodyReader, opt Options, bomb *inflation, buf []byte) error {
	out := &lazyFile{name: BodyName(flow, b.N, Extension(b.ContentType)), create: opt.Create, reserve: opt.Reserve}
	var src io.Reader = body
	var inflating io.Reader
	if opt.Decompress && (b.Encoding == "gzip" || b.Encoding == "x-gzip" || b.Encoding == "deflate") {
		br := bufio.NewReaderSize(body, 4096)
		src = br
		magic, _ := br.Peek(2)
		var err error
		switch {
		case len(magic) == 0:
			// no body
		case len(magic) == 2 && magic[0] == 0x1f && magic[1] == 0x8b:
			var z *gzip.Reader
			if z, err = gzip.NewReader(br); err == nil {
				z.Multistream(false) // as zlib's inflate, stop at the member's end
				inflating = z
			}
		case len(magic) == 2 && magic[0]&0x0f == 8 && (uint16(magic[0])<<8|uint16(magic[1]))%31 == 0:
			inflating, err = zlib.NewReader(br)
		case b.Encoding == "deflate":
			inflating = flate.NewReader(br) // raw deflate, as some servers send
		default:
			err = errors.New("not gzip data")
		}
		if err != nil {
			// Not what the header says: keep the bytes as they came.
			b.Err = fmt.Sprintf("%s: %v; written as received", b.Encoding, err)
		}
		if inflating != nil {
			src = inflating
			out.limit = func() int64 { return max(bombFloor, opt.MaxRatio*(bomb.in+body.read)) - bomb.out }
			defer func() { bomb.in += body.read; bomb.out += out.n }()
		}
	}
	_, err := io.CopyBuffer(out, src, buf)
	if cerr := out.close(); err == nil {
		err = cerr
	}
	b.Offset, b.Wire, b.Size = body.first, body.read, out.n
	if out.f != nil {
		b.Name = out.name
	}
	var ferr *fileError
	switch {
	case errors.As(err, &ferr):
		return ferr.err
	case errors.Is(body.err, errHole):
		b.Cut = Hole
	case errors.Is(body.err, io.ErrUnexpectedEOF):
		b.Cut = End
	case body.err != nil && !errors.Is(body.err, io.EOF):
		b.Cut = Corrupt // chunk framing
		b.Err = body.err.Error()
	case errors.Is(err, errQuota):
		b.Cut = Quota
	case errors.Is(err, errRatio):
		b.Cut = Ratio
		b.Err = fmt.Sprintf("the flow's bodies inflated past %d times their compressed size", opt.MaxRatio)
	case err != nil:
		b.Cut = Corrupt
		b.Err = fmt.Sprintf("%s: %v", b.Encoding, err)
	}
	return nil
}

var (
	errRatio = errors.New("decompression ratio exceeded")
	errQuota = errors.New("no room left on disk")
)

// fileError marks a failure to write a body file, the one error Extract
// returns.
type fileError struct{ err error }

func (e *fileError) Error() string { return e.err.Error() }

// lazyFile creates its file at the first byte, so empty bodies leave none.
type lazyFile struct {
	name   string
	create func(string) (io.WriteCloser, error)
	f      io.WriteCloser
	n      int64
	limit  func() int64 // nil: none
	// reserve, if set, is asked for room before each write (Options.Reserve)
	reserve func(n int64) bool
}

func (l *lazyFile) Write(p []byte) (int, error) {
	var over error
	if l.limit != nil {
		if room := l.limit() - l.n; int64(len(p)) > room {
			p, over = p[:max(room, 0)], errRatio
		}
	}
	if len(p) > 0 && l.reserve != nil && !l.reserve(int64(len(p))) {
		return 0, errQuota
	}
	if len(p) > 0 && l.f == nil {
		if l.create == nil {
			return 0, &fileError{errors.New("httpbody: no Options.Create")}
		}
		f, err := l.create(l.name)
		if err != nil {
			return 0, &fileError{err}
		}
		l.f = f
	}
	if len(p) > 0 {
		n, err := l.f.Write(p)
		l.n += int64(n)
		if err != nil {
			return n, &fileError{err}
		}
	}
	if over != nil {
		return len(p), over
	}
	return len(p), nil
}

func (l *lazyFile) close() error {
	if l.f == nil {
		return nil
	}
	if err := l.f.Close(); err != nil {
		return &fileError{err}
	}
	return nil
}

// requests reads the client's flow in step with the responses.
type requests struct {
	fr     *flowReader
	cur    *head
	failed bool
}

// peek returns the request the next final response answers, nil when the
// client's flow has no more that parse.
func (q *requests) peek() *head {
	if q.cur != nil || q.failed {
		return q.cur
	}
	h, err := readHead(q.fr, true)
	if err != nil {
		q.failed = true
		return nil
	}
	body := newBodyReader(q.fr, requestFraming(h), h.length)
	if !body.skip() {
		q.failed = true // the next request's start is unknown
	}
	q.cur = h
	return h
}

func (q *requests) take() { q.cur = nil }

// String is for messages: "response 3 (200, 1234 bytes)".
func (b Body) String() string {
	return "response " + strconv.Itoa(b.N) + " (" + strconv.Itoa(b.Status) + ", " + strconv.FormatInt(b.Size, 10) + " bytes)"
}
