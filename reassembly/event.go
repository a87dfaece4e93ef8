package reassembly

// EventKind says what was unusual about a segment's data (flowcap -l
// reports each one).
type EventKind uint8

const (
	// EventRetransmission: every byte of the segment was received before, and
	// none differs from the copy held (as far as the sink can tell).
	EventRetransmission EventKind = iota + 1
	// EventOverlap: some bytes of the segment were received before, not all,
	// or some of them differ from the copy held.
	EventOverlap
	// EventOutOfOrder: only new bytes, but they lie before the end of the
	// previous segment (it arrived after data that follows it), or before
	// the first byte of a SYN-less stream (inserted at its front).
	EventOutOfOrder
)

var eventNames = [...]string{"event?", "retransmission", "overlap", "out-of-order"}

func (k EventKind) String() string {
	if int(k) < len(eventNames) {
		return eventNames[k]
	}
	return eventNames[0]
}

// Event is one segment whose data was out of order, overlapped data
// received before, or repeated it (Config.OnEvent). The capture time is
// the Stream's Last.
type Event struct {
	Kind EventKind
	Seq  Seq   // sequence number of the segment's first data byte
	Off  int64 // its offset in the stream, as placed
	Len  int   // payload bytes

	// Seen is how many of them were received before, and Differ how many
	// of those differ from the copy held. The copy already handed to the
	// Sink can be compared only when the Sink is a Checker: Unchecked
	// counts the bytes of Seen that could not be (0 with a Checker).
	Seen, Differ, Unchecked int
}

// event reports a segment of n bytes placed at off (late: before the end
// of the previous one) to Config.OnEvent, if it was worth an event.
func (sh *Shard) event(s *Stream, off int64, n int, late bool, seen, differ uint64) {
	e := Event{Seq: s.ISN.Add(1 + off), Off: off, Len: n, Seen: int(seen), Differ: int(differ)}
	if seen > 0 && sh.checker == nil {
		// sh.scratch still holds the ranges countOverlap found received.
		for _, c := range sh.scratch {
			e.Unchecked += int(max(0, min(c.hi, s.next)-c.lo))
		}
	}
	switch {
	case seen == uint64(n) && differ == 0:
		e.Kind = EventRetransmission
	case seen > 0:
		e.Kind = EventOverlap
	case late:
		e.Kind = EventOutOfOrder
	default:
		return
	}
	sh.cfg.OnEvent(s, e)
}
