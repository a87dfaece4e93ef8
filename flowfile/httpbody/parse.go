package httpbody

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Limits on what the parser holds, against hostile flows.
const (
	maxHead      = 80 << 10 // status or request line and headers (as http-parser's HTTP_MAX_HEADER_SIZE)
	maxChunkLine = 4 << 10  // a chunk-size line, extensions included
)

var (
	errTooLong   = errors.New("line too long")
	errNotHTTP   = errors.New("not an HTTP/1.x message")
	errBadHeader = errors.New("malformed header")
)

// head is what the parser keeps of a message's start line and headers.
type head struct {
	status        int    // responses
	method, uri   string // requests
	contentType   string
	encoding      string // Content-Encoding, lower case
	length        int64  // Content-Length; -1 if none
	chunked       bool   // Transfer-Encoding ends with chunked
	transferCoded bool   // Transfer-Encoding present
	size          int64  // bytes of the head
}

// readHead parses a start line and the headers up to the empty line.
// request chooses a request line ("GET / HTTP/1.1") over a status line
// ("HTTP/1.1 200 OK").
func readHead(fr *flowReader, request bool) (*head, error) {
	h := &head{length: -1}
	start := fr.pos
	line, err := fr.readLine(maxHead)
	if err != nil {
		return nil, headError(err)
	}
	if request {
		err = h.requestLine(line)
	} else {
		err = h.statusLine(line)
	}
	if err != nil {
		return nil, err
	}
	var name, value []byte
	for {
		line, err := fr.readLine(maxHead - int(fr.pos-start))
		if err != nil {
			return nil, headError(err)
		}
		if len(line) > 0 && (line[0] == ' ' || line[0] == '\t') && name != nil {
			// obs-fold: the previous value goes on.
			value = append(append(value, ' '), bytes.TrimSpace(line)...)
			continue
		}
		if name != nil {
			if err := h.header(name, value); err != nil {
				return nil, err
			}
		}
		if len(line) == 0 {
			break
		}
		i := bytes.IndexByte(line, ':')
		if i <= 0 || bytes.ContainsAny(line[:i], " \t") {
			return nil, fmt.Errorf("%w: %q", errBadHeader, truncate(line))
		}
		name = append(name[:0], line[:i]...)
		value = append(value[:0], bytes.TrimSpace(line[i+1:])...)
	}
	h.size = fr.pos - start
	return h, nil
}

func headError(err error) error {
	if errors.Is(err, errTooLong) {
		return fmt.Errorf("head longer than %d bytes", maxHead)
	}
	return err
}

// statusLine parses "HTTP/1.x SSS[ reason]".
func (h *head) statusLine(line []byte) error {
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || !isDigit(line[7]) || line[8] != ' ' {
		return fmt.Errorf("%w: status line %q", errNotHTTP, truncate(line))
	}
	code := line[9:12]
	if !isDigit(code[0]) || !isDigit(code[1]) || !isDigit(code[2]) || (len(line) > 12 && line[12] != ' ') {
		return fmt.Errorf("%w: status line %q", errNotHTTP, truncate(line))
	}
	h.status = int(code[0]-'0')*100 + int(code[1]-'0')*10 + int(code[2]-'0')
	return nil
}

// requestLine parses "METHOD target HTTP/1.x".
func (h *head) requestLine(line []byte) error {
	f := bytes.Fields(line)
	if len(f) != 3 || !bytes.HasPrefix(f[2], []byte("HTTP/1.")) {
		return fmt.Errorf("%w: request line %q", errNotHTTP, truncate(line))
	}
	for _, c := range f[0] {
		if c < 'A' || c > 'Z' && c != '-' && c != '_' {
			return fmt.Errorf("%w: request line %q", errNotHTTP, truncate(line))
		}
	}
	h.method, h.uri = string(f[0]), string(f[1])
	return nil
}

// header keeps the fields that decide where a body is and what it holds.
func (h *head) header(name, value []byte) error {
	switch {
	case equalFold(name, "content-length"):
		n, err := strconv.ParseInt(string(value), 10, 64)
		if err != nil || n < 0 || value[0] == '+' {
			return fmt.Errorf("%w: Content-Length %q", errBadHeader, truncate(value))
		}
		if h.length >= 0 && h.length != n {
			return fmt.Errorf("%w: two Content-Lengths, %d and %d", errBadHeader, h.length, n)
		}
		h.length = n
	case equalFold(name, "transfer-encoding"):
		h.transferCoded = true
		codings := strings.Split(string(value), ",")
		h.chunked = strings.EqualFold(strings.TrimSpace(codings[len(codings)-1]), "chunked")
	case equalFold(name, "content-type"):
		h.contentType = string(value)
	case equalFold(name, "content-encoding"):
		h.encoding = strings.ToLower(string(value))
	}
	return nil
}

func equalFold(b []byte, s string) bool { return strings.EqualFold(string(b), s) }

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// truncate shortens what an error message quotes.
func truncate(b []byte) []byte {
	if len(b) > 64 {
		return b[:64]
	}
	return b
}

// framing says where a message's body ends.
type framing uint8

const (
	noBody   framing = iota
	byLength         // Content-Length bytes
	byChunks         // chunked transfer coding
	byClose          // everything up to the end of the flow
	tunnel           // the connection is something else from here on (101, CONNECT)
)

// responseFraming applies RFC 9112 §6.3 to a response; method is the
// request's ("" when unknown: as tcpflow, a HEAD response then looks
// like any other).
func responseFraming(h *head, method string) framing {
	switch {
	case h.status == 101, method == "CONNECT" && h.status/100 == 2:
		return tunnel
	case h.status/100 == 1, h.status == 204, h.status == 304, method == "HEAD":
		return noBody
	case h.chunked:
		return byChunks
	case h.transferCoded:
		return byClose
	case h.length >= 0:
		return byLength
	}
	return byClose
}

// requestFraming: a request without Content-Length or chunked coding has
// no body.
func requestFraming(h *head) framing {
	switch {
	case h.chunked:
		return byChunks
	case h.length > 0:
		return byLength
	}
	return noBody
}

// bodyReader reads one message's body: the data bytes, chunk framing
// taken off. It ends with io.EOF at the body's end, errHole at a hole,
// io.ErrUnexpectedEOF when the flow ends first.
type bodyReader struct {
	fr    *flowReader
	mode  framing
	left  int64 // bytes left of the body (byLength) or of the chunk (byChunks)
	first int64 // offset of the first data byte; -1 until one is read
	read  int64 // data bytes read
	end   bool  // the last chunk was read (byChunks)
	err   error // sticky
}

func newBodyReader(fr *flowReader, mode framing, length int64) *bodyReader {
	b := &bodyReader{fr: fr, mode: mode, first: -1}
	switch mode {
	case byLength:
		b.left = length
	case noBody, tunnel:
		b.err = io.EOF
	case byChunks:
		b.left = -1 // the first chunk-size line comes first
	}
	return b
}

func (b *bodyReader) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	if b.mode == byChunks && b.left <= 0 {
		if err := b.nextChunk(); err != nil {
			b.err = err
			return 0, err
		}
	}
	if b.mode != byClose && int64(len(p)) > b.left {
		p = p[:b.left]
	}
	if len(p) == 0 {
		if b.mode == byLength {
			b.err = io.EOF
		}
		return 0, b.err
	}
	off := b.fr.pos
	n, err := b.fr.Read(p)
	if n > 0 && b.first < 0 {
		b.first = off
	}
	b.read += int64(n)
	if b.mode != byClose {
		b.left -= int64(n)
	}
	switch {
	case err == nil:
	case errors.Is(err, io.EOF) && b.mode == byClose:
		b.err = io.EOF
	case errors.Is(err, io.EOF):
		b.err = io.ErrUnexpectedEOF
	default:
		b.err = err
	}
	if n > 0 {
		return n, nil
	}
	return 0, b.err
}

// nextChunk reads the CRLF after the previous chunk's data, then the next
// chunk-size line; after the last chunk, the trailer fields, and answers
// io.EOF.
func (b *bodyReader) nextChunk() error {
	if b.end {
		return io.EOF
	}
	if b.left == 0 {
		line, err := b.fr.readLine(maxChunkLine)
		if err != nil {
			return chunkError(err)
		}
		if len(line) != 0 {
			return fmt.Errorf("chunk data followed by %q, not CRLF", truncate(line))
		}
	}
	line, err := b.fr.readLine(maxChunkLine)
	if err != nil {
		return chunkError(err)
	}
	if i := bytes.IndexByte(line, ';'); i >= 0 {
		line = line[:i]
	}
	line = bytes.TrimSpace(line)
	n, err := strconv.ParseUint(string(line), 16, 63)
	if err != nil || len(line) == 0 {
		return fmt.Errorf("chunk size %q", truncate(line))
	}
	b.left = int64(n)
	if n > 0 {
		return nil
	}
	b.end = true
	for { // trailer fields, up to the empty line
		line, err := b.fr.readLine(maxHead)
		if err != nil {
			return chunkError(err)
		}
		if len(line) == 0 {
			return io.EOF
		}
	}
}

func chunkError(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

// skip moves past what is left of the body without reading it, so that
// the next message can be parsed; false when its end cannot be found (a
// hole over chunk framing, the flow's end, a body up to the end).
func (b *bodyReader) skip() bool {
	for {
		switch {
		case errors.Is(b.err, io.EOF):
			return true
		case b.mode == byClose:
			return false
		case b.mode == byLength:
			if b.fr.pos+b.left > b.fr.size {
				return false
			}
			b.fr.advance(b.left)
			b.left, b.err = 0, io.EOF
			return true
		}
		// byChunks: past the chunk's data, then the next chunk line.
		if b.left > 0 {
			b.fr.advance(b.left)
			b.left = 0
		}
		if err := b.nextChunk(); err != nil {
			b.err = err
			if !errors.Is(err, io.EOF) {
				return false
			}
		}
	}
}
