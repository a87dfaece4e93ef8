package capture

import (
	"bytes"
	"compress/gzip"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// TestProgress: a Source counts the bytes of its file as stored (the
// compressed ones for gzip) and knows the size of a regular file only.
func TestProgress(t *testing.T) {
	name := testdata + "zeek__http__bro.org.pcap"
	raw, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(raw)
	zw.Close()
	gzName := filepath.Join(t.TempDir(), "trace.pcap.gz")
	if err := os.WriteFile(gzName, gz.Bytes(), 0o666); err != nil {
		t.Fatal(err)
	}
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		pw.Write(raw)
		pw.Close()
	}()
	defer pr.Close()

	tests := []struct {
		name      string
		open      func() (Source, error)
		size, end int64 // total, and done at the end
	}{
		{"file", func() (Source, error) { return Open(name) }, int64(len(raw)), int64(len(raw))},
		{"gzip file", func() (Source, error) { return Open(gzName) }, int64(gz.Len()), int64(gz.Len())},
		{"pipe", func() (Source, error) { return NewSource(pr, "-") }, -1, int64(len(raw))},
		{"reader", func() (Source, error) { return NewSource(bytes.NewReader(raw), "mem") }, -1, int64(len(raw))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := tt.open()
			if err != nil {
				t.Fatal(err)
			}
			defer src.Close()
			p, ok := src.(Progresser)
			if !ok {
				t.Fatalf("%T is no Progresser", src)
			}
			if done, total := p.Progress(); total != tt.size || done <= 0 || done > max(tt.end, bufSize) {
				t.Errorf("after open: %d of %d, want some of %d", done, total, tt.size)
			}
			for {
				if _, _, err := src.Next(); err == io.EOF {
					break
				} else if err != nil {
					t.Fatal(err)
				}
			}
			if done, total := p.Progress(); done != tt.end || total != tt.size {
				t.Errorf("at the end: %d of %d, want %d of %d", done, total, tt.end, tt.size)
			}
		})
	}
}
