package capture

import (
	"bytes"
	"compress/gzip"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/flowcap/flowcap/reassembly"
)

// fuzzSeeds returns the testdata captures, the large ones cut to their
// first 4 KiB (a cut capture is a good seed too, and small seeds keep the
// fuzzer fast), and one of them gzip-compressed.
func fuzzSeeds(f *testing.F) [][]byte {
	files, err := filepath.Glob(testdata + "*")
	if err != nil {
		f.Fatal(err)
	}
	var seeds [][]byte
	for _, file := range files {
		if filepath.Ext(file) == ".md" || filepath.Base(file) == "SHA256SUMS" {
			continue
		}
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		seeds = append(seeds, b[:min(len(b), 4<<10)])
	}
	var gz bytes.Buffer
	w := gzip.NewWriter(&gz)
	w.Write(seeds[0])
	w.Close()
	return append(seeds, gz.Bytes())
}

// FuzzReader: any bytes either fail to open or read to an end, without
// panicking, with buffers that grow only with the bytes there are, and
// every packet decodes without panicking.
func FuzzReader(f *testing.F) {
	for _, b := range fuzzSeeds(f) {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		s, err := NewSource(bytes.NewReader(in), "fuzz")
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		d := NewDecoder()
		var seg reassembly.Segment
		for range 100000 {
			data, info, err := s.Next()
			if err != nil {
				if err != io.EOF && !errors.Is(err, ErrTruncated) && !errors.Is(err, ErrCorrupt) {
					// gzip errors and the like: still one line with the name
					if !bytes.HasPrefix([]byte(err.Error()), []byte("fuzz: ")) {
						t.Fatalf("error without the input's name: %v", err)
					}
				}
				if _, _, again := s.Next(); again == nil || again.Error() != err.Error() {
					t.Fatalf("after %v, Next returned %v", err, again)
				}
				break
			}
			if len(data) > info.CapLen || info.CapLen > maxRecord {
				t.Fatalf("%d bytes of data for CapLen %d", len(data), info.CapLen)
			}
			d.Decode(data, info, &seg)
		}
		var b *bufReader
		switch r := s.(type) {
		case *pcapReader:
			b = r.b
		case *ngReader:
			b = r.b
		}
		// The buffer starts at bufSize and at most doubles past the bytes
		// read; gzip can inflate 1032 times.
		if limit := max(bufSize, 2*1032*len(in)+4096); len(b.buf) > limit {
			t.Fatalf("a %d-byte input grew the buffer to %d", len(in), len(b.buf))
		}
	})
}

// FuzzDecode: frames of any link type decode without panicking, and a
// segment's payload lies within its frame or the reassembly buffer. The
// input is a sequence of frames, each after a 2-byte length, so that
// fragments meet.
func FuzzDecode(f *testing.F) {
	for _, b := range fuzzSeeds(f) {
		s, err := NewSource(bytes.NewReader(b), "seed")
		if err != nil {
			continue
		}
		var in []byte
		lt := LinkEthernet
		for i := 0; i < 8; i++ {
			data, info, err := s.Next()
			if err != nil {
				break
			}
			lt = info.LinkType
			in = binary.BigEndian.AppendUint16(in, uint16(len(data)))
			in = append(in, data...)
		}
		f.Add(uint16(lt), in)
	}
	for _, c := range decodeCases {
		frame := unhex(c.frame)
		f.Add(uint16(c.lt), append(binary.BigEndian.AppendUint16(nil, uint16(len(frame))), frame...))
	}
	f.Fuzz(func(t *testing.T, lt uint16, in []byte) {
		d := NewDecoder()
		var seg reassembly.Segment
		for len(in) >= 2 {
			n := min(int(binary.BigEndian.Uint16(in)), len(in)-2)
			frame := in[2 : 2+n]
			in = in[2+n:]
			info := Info{Time: int64(len(in)) * 1e9, CapLen: n, WireLen: n, LinkType: LinkType(lt)}
			if d.Decode(frame, info, &seg) != OK {
				continue
			}
			if len(seg.Payload) > maxDatagram {
				t.Fatalf("payload of %d bytes", len(seg.Payload))
			}
			if !within(seg.Payload, frame) && !within(seg.Payload, d.lastDatagram()) {
				t.Fatal("payload points outside the frame and the reassembly buffers")
			}
		}
		if d.defrag.bytes > maxFragBytes || len(d.defrag.active) > maxDatagrams {
			t.Fatalf("reassembly holds %d bytes in %d datagrams", d.defrag.bytes, len(d.defrag.active))
		}
	})
}

// within reports whether p is a subslice of b.
func within(p, b []byte) bool {
	if len(p) == 0 {
		return true
	}
	if len(b) == 0 {
		return false
	}
	pb := &p[0]
	for i := range b {
		if &b[i] == pb {
			return i+len(p) <= len(b)
		}
	}
	return false
}

// lastDatagram is the buffer of the datagram completed last.
func (d *Decoder) lastDatagram() []byte {
	if d.defrag.done != nil {
		return d.defrag.done.buf
	}
	return nil
}
