package reassembly

import (
	"fmt"
	"slices"
	"testing"
)

// TestEvents: Config.OnEvent hears of each segment that came late,
// overlapped or repeated data, once, with the right kind and numbers; in
// order data says nothing.
func TestEvents(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		pkts []pkt
		want []string // kind seq off len seen differ
	}{
		{
			name: "in order: nothing",
			pkts: with(handshake, []pkt{{'c', PA, 101, "AAAA", 0}, {'c', PA, 105, "BBBB", 0}, {'s', PA, 501, "ok", 0}}),
		},
		{
			name: "late segment, then a retransmission of it",
			pkts: with(handshake, []pkt{{'c', PA, 105, "BBBB", 0}, {'c', PA, 101, "AAAA", 0}, {'c', PA, 101, "AAAA", 0}}),
			want: []string{"out-of-order 101 0 4 0 0", "retransmission 101 0 4 4 0"},
		},
		{
			name: "retransmissions, whole and partial",
			pkts: with(handshake, []pkt{
				{'c', PA, 101, "AAAA", 0}, {'c', PA, 105, "BBBB", 0},
				{'c', PA, 101, "AAAABBBB", 0}, // all seen before
				{'c', PA, 107, "BBCC", 0},     // half
			}),
			want: []string{"retransmission 101 0 8 8 0", "overlap 107 6 4 2 0"},
		},
		{
			name: "overlap with other data",
			pkts: with(handshake, []pkt{{'c', PA, 101, "AAAAAAAA", 0}, {'c', PA, 103, "xxxx", 0}}),
			want: []string{"overlap 103 2 4 4 4"},
		},
		{
			name: "overlap with held data, ahead of the previous segment",
			pkts: with(handshake, []pkt{{'c', PA, 109, "CCCC", 0}, {'c', PA, 101, "AA", 0}, {'c', PA, 111, "xxxx", 0}}),
			want: []string{"out-of-order 101 0 2 0 0", "overlap 111 10 4 2 2"},
		},
		{
			name: "first wins counts alike",
			cfg:  Config{Overlap: FirstWins},
			pkts: with(handshake, []pkt{{'c', PA, 101, "AAAAAAAA", 0}, {'c', PA, 103, "xxxx", 0}}),
			want: []string{"overlap 103 2 4 4 4"},
		},
		{
			name: "front insert of a SYN-less stream",
			pkts: []pkt{{'c', PA, 105, "LATE", 0}, {'c', PA, 101, "EARL", 0}},
			want: []string{"out-of-order 101 0 4 0 0"},
		},
		{
			name: "keep-alive: not an event",
			pkts: with(handshake, []pkt{{'c', PA, 101, "AAAA", 0}, {'c', A, 104, "x", 0}}),
		},
		{
			name: "arrival order: no events",
			cfg:  Config{Arrival: true},
			pkts: with(handshake, []pkt{{'c', PA, 105, "BBBB", 0}, {'c', PA, 101, "AAAA", 0}, {'c', PA, 101, "AAAA", 0}}),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			tt.cfg.OnEvent = func(s *Stream, e Event) {
				if s.Key != c2s {
					t.Errorf("event on %v", s.Key)
				}
				got = append(got, fmt.Sprintf("%v %d %d %d %d %d", e.Kind, e.Seq, e.Off, e.Len, e.Seen, e.Differ))
			}
			run(t, tt.cfg, tt.pkts)
			if !slices.Equal(got, tt.want) {
				t.Errorf("events\n%q\nwant\n%q", got, tt.want)
			}
		})
	}
}

// TestEventDoesNotAllocate: reporting an event costs no allocation.
func TestEventDoesNotAllocate(t *testing.T) {
	var n int
	sh := NewShard(Config{OnEvent: func(*Stream, Event) { n++ }}, &countSink{})
	payload := make([]byte, 100)
	syn := Segment{Key: c2s, Seq: 0, Flags: SYN}
	if err := sh.Handle(&syn); err != nil {
		t.Fatal(err)
	}
	seg := Segment{Key: c2s, Flags: PA, Payload: payload, Seq: 1}
	if err := sh.Handle(&seg); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(100, func() {
		if err := sh.Handle(&seg); err != nil { // the same again
			t.Fatal(err)
		}
	})
	if allocs != 0 || n == 0 {
		t.Errorf("%v allocations per event (%d events)", allocs, n)
	}
}

// TestEventUnchecked: a sink that cannot read back leaves the bytes it
// was given uncompared, and says how many.
func TestEventUnchecked(t *testing.T) {
	var got []Event
	sh := NewShard(Config{OnEvent: func(_ *Stream, e Event) { got = append(got, e) }}, &countSink{})
	for _, p := range []pkt{{flags: SYN, seq: 0}, {flags: PA, seq: 1, data: "AAAA"}, {flags: PA, seq: 9, data: "CCCC"}, {flags: PA, seq: 3, data: "xxBBBBCC"}} {
		seg := Segment{Key: c2s, Seq: p.seq, Flags: p.flags, VLAN: NoVLAN, Payload: []byte(p.data)}
		if err := sh.Handle(&seg); err != nil {
			t.Fatal(err)
		}
	}
	// xx lies on delivered data (not compared), CC on held data (compared).
	want := []Event{{Kind: EventOverlap, Seq: 3, Off: 2, Len: 8, Seen: 4, Differ: 0, Unchecked: 2}}
	if !slices.Equal(got, want) {
		t.Errorf("events %+v, want %+v", got, want)
	}
}
