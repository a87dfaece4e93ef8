package reassembly

import (
	"fmt"
	"sort"
	"strings"
)

// memSink is a Sink that keeps every stream as a byte slice, written the way
// a file is (pwrite at an offset, zeros in holes): the test double that
// tells what a flow file would hold.
type memSink struct {
	open   map[*Stream]*memFile
	closed []*memFile
	// limit caps the bytes kept per stream (data past it is counted only),
	// so that a test can push more than 4 GiB through.
	limit int64
}

type memFile struct {
	key     Key
	vlan    int32
	data    []byte
	size    int64 // logical size of what was written
	writes  int
	shifts  int
	reason  Reason
	stream  Stream // copy at Close
	written int64  // bytes passed to Write
}

func newMemSink() *memSink { return &memSink{open: map[*Stream]*memFile{}} }

func (m *memSink) file(s *Stream) *memFile {
	f := m.open[s]
	if f == nil {
		f = &memFile{key: s.Key, vlan: s.VLAN}
		m.open[s] = f
		s.Handle = f
	}
	return f
}

func (m *memSink) Write(s *Stream, off int64, p []byte) error {
	if off < 0 {
		return fmt.Errorf("write at negative offset %d", off)
	}
	f := m.file(s)
	f.writes++
	f.written += int64(len(p))
	end := off + int64(len(p))
	if end > f.size {
		f.size = end
	}
	if m.limit > 0 {
		if off >= m.limit {
			return nil
		}
		if end > m.limit {
			p = p[:m.limit-off]
			end = m.limit
		}
	}
	if int64(len(f.data)) < end {
		f.data = append(f.data, make([]byte, end-int64(len(f.data)))...)
	}
	copy(f.data[off:], p)
	return nil
}

func (m *memSink) Shift(s *Stream, n int64) error {
	f := m.file(s)
	f.shifts++
	f.data = append(make([]byte, n), f.data...)
	f.size += n
	return nil
}

func (m *memSink) Close(s *Stream) error {
	f := m.open[s]
	if f == nil {
		f = &memFile{key: s.Key, vlan: s.VLAN}
	}
	delete(m.open, s)
	f.reason = s.Reason
	f.stream = *s
	f.stream.Handle = nil
	m.closed = append(m.closed, f)
	return nil
}

func (m *memSink) Check(s *Stream, off int64, p []byte) (held, differ int, err error) {
	f, _ := s.Handle.(*memFile)
	if f == nil {
		return 0, 0, nil
	}
	for i := range p {
		o := off + int64(i)
		if o >= int64(len(f.data)) {
			break
		}
		held++
		if f.data[o] != p[i] {
			differ++
		}
	}
	return held, differ, nil
}

// files returns the closed streams that carried data, named like
// tcpflow's files ("src-dst" + cN for repeated keys) with their contents.
func (m *memSink) files() map[string]string {
	out := map[string]string{}
	seen := map[string]int{}
	for _, f := range m.closed {
		if f.writes == 0 {
			continue
		}
		name := shortName(f.key)
		if n := seen[name]; n > 0 {
			seen[name]++
			name = fmt.Sprintf("%sc%d", name, n)
		} else {
			seen[name] = 1
		}
		out[name] = string(f.data)
	}
	return out
}

func shortName(k Key) string {
	return fmt.Sprintf("%d-%d", k.Src.Port(), k.Dst.Port())
}

func dump(m map[string]string) string {
	var keys []string
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%q\n", k, m[k])
	}
	return b.String()
}

// file returns the first closed stream of k.
func (m *memSink) byKey(k Key) *memFile {
	for _, f := range m.closed {
		if f.key == k {
			return f
		}
	}
	return &memFile{}
}

func (m *memSink) stream(k Key) Stream { return m.byKey(k).stream }
