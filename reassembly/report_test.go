package reassembly

import (
	"slices"
	"testing"
)

// TestPeerOpen: when a stream closes, PeerOpen says whether the other
// direction of its connection is still open, so that a report joining both
// waits for the last one.
func TestPeerOpen(t *testing.T) {
	m, _ := run(t, Config{}, []pkt{
		{dir: 'c', flags: SYN, seq: 100},
		{dir: 's', flags: SA, seq: 500},
		{dir: 'c', flags: PA, seq: 101, data: "hello"},
		{dir: 'c', flags: FA, seq: 106}, // the client closes first...
		{dir: 's', flags: PA, seq: 501, data: "bye"},
		{dir: 's', flags: FA, seq: 504}, // ...the server last
	})
	if len(m.closed) != 2 {
		t.Fatalf("%d streams closed", len(m.closed))
	}
	first, last := m.closed[0].stream, m.closed[1].stream
	if first.Key != c2s || !first.PeerOpen || last.Key != s2c || last.PeerOpen || first.Session != last.Session {
		t.Errorf("closed %v (peer open %v, session %d), then %v (peer open %v, session %d)",
			first.Key, first.PeerOpen, first.Session, last.Key, last.PeerOpen, last.Session)
	}
}

// TestAppendHoles: the ranges no segment filled, as the file has them.
func TestAppendHoles(t *testing.T) {
	hs := &holeSink{memSink: newMemSink()}
	m := hs.memSink
	sh := NewShard(Config{}, hs)
	for i, p := range []pkt{
		{flags: SYN, seq: 0},
		{flags: PA, seq: 3, data: "cd"},  // [0, 2) missing
		{flags: PA, seq: 7, data: "gh"},  // [4, 6) missing
		{flags: PA, seq: 11, data: "kl"}, // [8, 10) missing
		{flags: PA, seq: 10, data: "j"},  // fills [9, 10)
	} {
		seg := Segment{Key: c2s, Seq: p.seq, Flags: p.flags, Time: int64(i), VLAN: NoVLAN, Payload: []byte(p.data)}
		if err := sh.Handle(&seg); err != nil {
			t.Fatal(err)
		}
	}
	if err := sh.Finish(); err != nil {
		t.Fatal(err)
	}
	want := [][2]int64{{0, 2}, {4, 6}, {8, 9}}
	holes := hs.holes
	if !slices.Equal(holes, want) || m.closed[0].stream.Holes != 3 {
		t.Errorf("holes %v (%d counted), want %v", holes, m.closed[0].stream.Holes, want)
	}
}

// holeSink is a memSink that lists each stream's holes when it closes.
type holeSink struct {
	*memSink
	holes [][2]int64
}

func (h *holeSink) Close(s *Stream) error {
	h.holes = s.AppendHoles(h.holes)
	return h.memSink.Close(s)
}

// frameSink is a memSink that takes frames.
type frameSink struct {
	*memSink
	frames map[Key][]string
}

func (f *frameSink) Frame(s *Stream, frame []byte, _ uint32, _ int64, _ uint32) error {
	f.frames[s.Key] = append(f.frames[s.Key], string(frame))
	return nil
}

// TestFrames: a FrameSink gets the frame of every segment that belongs to
// a stream, a FIN or RST that closes it included, before its data; not
// those no stream takes.
func TestFrames(t *testing.T) {
	fs := &frameSink{memSink: newMemSink(), frames: map[Key][]string{}}
	sh := NewShard(Config{}, fs)
	for i, p := range []pkt{
		{dir: 'c', flags: A, seq: 1}, // opens nothing: no stream, no frame
		{dir: 'c', flags: SYN, seq: 100},
		{dir: 'c', flags: PA, seq: 101, data: "x"},
		{dir: 's', flags: PA, seq: 7, data: "y"},
		{dir: 'c', flags: RA, seq: 102},
	} {
		seg := Segment{Key: c2s, Seq: p.seq, Flags: p.flags, Time: int64(i), VLAN: NoVLAN, Payload: []byte(p.data), Frame: []byte{'f', byte('0' + i)}}
		if p.dir == 's' {
			seg.Key = s2c
		}
		if err := sh.Handle(&seg); err != nil {
			t.Fatal(err)
		}
	}
	sh.Finish()
	if got := fs.frames[c2s]; !slices.Equal(got, []string{"f1", "f2", "f4"}) {
		t.Errorf("client frames %q", got)
	}
	if got := fs.frames[s2c]; !slices.Equal(got, []string{"f3"}) {
		t.Errorf("server frames %q", got)
	}
}
