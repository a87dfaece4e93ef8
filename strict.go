package main

// How strictly streams are rebuilt: -a not at all (payloads one after
// the other in capture order), -l with every segment that came out of
// order, overlapped or repeated data reported on stderr and counted.

import (
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowcap/flowcap/flowfile"
	"github.com/flowcap/flowcap/reassembly"
	"github.com/urfave/cli/v2"
)

func strictFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "arrival", Aliases: []string{"a"}, Usage: "no reassembly: each direction's payloads one after the other in capture order, retransmissions and all"},
		&cli.BoolFlag{Name: "strict", Aliases: []string{"l"}, Usage: "report each out-of-order, overlapping or retransmitted segment on stderr, one line each, and count them in the summary"},
	}
}

// strictConfigFrom binds -a and -l into cfg.
func strictConfigFrom(c *cli.Context, cfg *config) error {
	cfg.reassembly.Arrival = c.Bool("arrival")
	cfg.strict = c.Bool("strict")
	if cfg.strict && cfg.reassembly.Arrival {
		return errors.New("-l and -a: with -a nothing is reassembled, so nothing is out of order; choose one")
	}
	return nil
}

// strictLog prints the events of -l and counts them. Shards report
// concurrently: one lock per event line (events are rare, and never on
// the in-order path).
type strictLog struct {
	mu     sync.Mutex
	w      io.Writer
	buf    []byte
	counts [reassembly.EventOutOfOrder + 1]atomic.Uint64
}

func newStrictLog(w io.Writer) *strictLog { return &strictLog{w: w} }

// onEvent is the reassembly.Config.OnEvent of -l: one line per segment,
//
//	flowcap: out-of-order 010.001.001.002.44644-010.001.001.001.00080 seq 101:105 (4 bytes) at 2017-12-13T22:28:59.656584Z
//	flowcap: overlap NAME seq 103:107 (4 bytes, 4 received before, 4 differ) at TIME
//	flowcap: retransmission NAME seq 101:105 (4 bytes) at TIME
//
// With -c, bytes already printed cannot be compared: the line says how
// many were not, and a segment whose every byte was printed before is
// counted as a retransmission.
func (l *strictLog) onEvent(s *reassembly.Stream, e reassembly.Event) {
	l.counts[e.Kind].Add(1)
	l.mu.Lock()
	defer l.mu.Unlock()
	b := append(l.buf[:0], "flowcap: "...)
	b = append(b, e.Kind.String()...)
	b = append(b, ' ')
	b = flowfile.AppendName(b, s.Key, s.VLAN, 0)
	b = fmt.Appendf(b, " seq %d:%d (%d bytes", uint32(e.Seq), uint32(e.Seq.Add(int64(e.Len))), e.Len)
	if e.Kind == reassembly.EventOverlap {
		b = fmt.Appendf(b, ", %d received before, %d differ", e.Seen, e.Differ)
	}
	if e.Unchecked > 0 { // -c keeps nothing of what it printed
		b = fmt.Appendf(b, ", %d printed before: not compared", e.Unchecked)
	}
	b = append(b, ") at "...)
	b = time.Unix(0, s.Last).UTC().AppendFormat(b, "2006-01-02T15:04:05.000000Z07:00")
	b = append(b, '\n')
	l.w.Write(b)
	l.buf = b
}

// summary adds the counts of -l to the summary line.
func (l *strictLog) summary(w io.Writer) {
	if l == nil {
		return
	}
	fmt.Fprintf(w, ", %d out-of-order, %d overlapping, %d retransmitted segments",
		l.counts[reassembly.EventOutOfOrder].Load(), l.counts[reassembly.EventOverlap].Load(), l.counts[reassembly.EventRetransmission].Load())
}
