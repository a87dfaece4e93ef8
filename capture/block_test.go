package capture

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
)

// recordFile is a pcap of n records of size bytes each, record i filled
// with the byte i (mod 256) after its 4-byte number.
func recordFile(n, size int) []byte {
	recs := make([]pcapRec, n)
	for i := range recs {
		data := bytes.Repeat([]byte{byte(i)}, size)
		binary.BigEndian.PutUint32(data, uint32(i))
		recs[i] = pcapRec{uint32(i), 0, uint32(size), uint32(size), data}
	}
	return pcapFile(binary.LittleEndian, pcapMicro, 2, 4, 65535, uint32(LinkEthernet), recs...)
}

func checkRecord(data []byte, i int) error {
	if len(data) < 4 || binary.BigEndian.Uint32(data) != uint32(i) || data[len(data)-1] != byte(i) {
		return fmt.Errorf("record %d overwritten: it starts % x", i, data[:min(8, len(data))])
	}
	return nil
}

// A retained block keeps the bytes of its packets while the source reads
// on, through a trickling reader too (partial records move to the next
// block); released blocks are read into again.
func TestHeldBlocks(t *testing.T) {
	const n, size = 3000, 1500 // ~17 blocks
	raw := recordFile(n, size)
	for _, tc := range []struct {
		name string
		src  func() Source
	}{
		{"file", func() Source { s, _ := NewSource(bytes.NewReader(raw), "x.pcap"); return s }},
		{"gzip", func() Source { s, _ := NewSource(bytes.NewReader(gzipped(raw)), "x.pcap.gz"); return s }},
		{"trickle", func() Source { s, _ := NewSource(&trickle{raw}, "-"); return s }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.src()
			h, ok := src.(Holder)
			if !ok {
				t.Fatal("the source is no Holder")
			}
			type held struct {
				blk  *Block
				data []byte
				i    int
			}
			var keep []held
			blocks := map[*Block]bool{}
			for i := 0; ; i++ {
				data, _, err := src.Next()
				if err != nil {
					if i != n {
						t.Fatalf("%d records, then %v", i, err)
					}
					break
				}
				blk := h.Block()
				if !blk.Contains(data) {
					t.Fatalf("record %d is not in its block", i)
				}
				blocks[blk] = true
				if err := checkRecord(data, i); err != nil {
					t.Fatal(err)
				}
				switch {
				case i%100 == 0: // held for a while, as a batch does
					blk.Retain()
					keep = append(keep, held{blk, data, i})
				case len(keep) > 4:
					for _, k := range keep[:2] {
						if err := checkRecord(k.data, k.i); err != nil {
							t.Fatal(err)
						}
						k.blk.Release()
					}
					keep = keep[2:]
				}
			}
			for _, k := range keep {
				if err := checkRecord(k.data, k.i); err != nil {
					t.Fatal(err)
				}
				k.blk.Release()
			}
			// Holding moves the source to new blocks; released ones are read
			// into again: at most the five held at once, the source's and
			// the one it moves to are ever made.
			if len(blocks) < 2 || len(blocks) > 7 {
				t.Errorf("%d blocks for %d records of %d bytes", len(blocks), n, size)
			}
		})
	}
}

// Without retaining, the source reads into one block: no allocation.
func TestBlocksWithoutHolding(t *testing.T) {
	raw := recordFile(3000, 1500)
	s, _ := NewSource(bytes.NewReader(raw), "x.pcap")
	first := s.(Holder)
	s.Next()
	blk := first.Block()
	allocs := testing.AllocsPerRun(2000, func() {
		if _, _, err := s.Next(); err != nil {
			t.Fatal(err)
		}
		if first.Block() != blk {
			t.Fatal("a new block though none was held")
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per packet", allocs)
	}
}

func TestBlockContains(t *testing.T) {
	b := &Block{buf: make([]byte, 100)}
	for _, tc := range []struct {
		p    []byte
		want bool
	}{
		{b.buf, true}, {b.buf[10:20], true}, {b.buf[99:], true}, {b.buf[100:], false}, {nil, false},
		{make([]byte, 10), false}, {b.buf[:0], false},
	} {
		if got := b.Contains(tc.p); got != tc.want {
			t.Errorf("Contains(len %d) = %v, want %v", len(tc.p), got, tc.want)
		}
	}
}
