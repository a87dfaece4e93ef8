package capture

import (
	"io"
	"os"
	"sync/atomic"
)

// Progresser is a Source that can say how far it has read its input, for
// a progress bar. Sources of files and pipes (Open, NewSource) are.
type Progresser interface {
	// Progress returns the bytes of the input read so far and its size,
	// -1 when unknown (a pipe, stdin). Both count the file as stored: the
	// compressed bytes of a compressed capture. Safe from any goroutine.
	Progress() (done, total int64)
}

// counter counts the bytes read from r. Reads come a buffer at a time,
// not a packet at a time: the atomic add costs nothing that shows.
type counter struct {
	r io.Reader
	n atomic.Int64
}

func (c *counter) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	return n, err
}

// sizeOf returns the size of a regular file, -1 for anything else.
func sizeOf(r io.Reader) int64 {
	if f, ok := r.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode().IsRegular() {
			return fi.Size()
		}
	}
	return -1
}

func (in *input) Progress() (done, total int64) { return in.read.n.Load(), in.size }
