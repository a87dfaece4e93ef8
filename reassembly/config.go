package reassembly

import (
	"sync/atomic"
	"time"
)

// Overlap says which copy of a byte is kept when two segments carry
// different data for the same sequence number.
type Overlap uint8

const (
	// LastWins keeps the copy that arrived last, as tcpflow and tcptrace do.
	LastWins Overlap = iota
	// FirstWins keeps the copy that arrived first, as tshark, Zeek and
	// gopacket do.
	FirstWins
)

func (o Overlap) String() string {
	if o == FirstWins {
		return "first"
	}
	return "last"
}

// Defaults for the zero Config fields.
const (
	DefaultIdleTimeout      = int64(3600 * time.Second)
	DefaultMaxGap           = 16 << 20 // tcpflow -m
	DefaultMaxFlows         = 1 << 18
	DefaultMaxPendingStream = 4 << 20
	DefaultMaxPending       = 256 << 20
	DefaultLinger           = int64(3600 * time.Second)
	DefaultMaxLinger        = 1 << 14
	DefaultMaxShift         = 64 << 20
	DefaultMaxSpans         = 1 << 13
)

// Config holds the reassembly rules of a Shard. The zero Config is
// tcpflow 1.6.1's behaviour with flowcap's limits.
type Config struct {
	// Overlap chooses the copy kept when retransmitted data differs.
	Overlap Overlap

	// Arrival turns reassembly off: each direction's payloads are
	// written one after the other in capture order, retransmissions and
	// all. Streams still open and close as usual.
	Arrival bool

	// IdleTimeout closes a stream that saw no packet for this long in
	// capture time (ns). 0 means DefaultIdleTimeout; negative, never.
	IdleTimeout int64

	// MaxGap is tcpflow's -m: a segment more than this many bytes away
	// from where the stream is closes it, and its data starts a new one.
	// 0 means DefaultMaxGap.
	MaxGap int64

	// MaxFlows caps the streams open in this shard; past it the least
	// recently used one is closed (reason Evicted). 0: DefaultMaxFlows.
	MaxFlows int

	// MaxPendingStream caps the out-of-order bytes held for one stream;
	// past it they are written with a hole before them (which later data
	// may still fill). 0 means DefaultMaxPendingStream.
	MaxPendingStream int64

	// Pending is the out-of-order memory shared by shards; nil gives the
	// shard a budget of its own of DefaultMaxPending bytes.
	Pending *Budget

	// Linger is how long (capture time, ns) a closed stream is remembered
	// so that its stragglers, data already in its file, are recognised
	// (tcpflow's saved flows). 0 means DefaultLinger; negative, never.
	Linger int64

	// MaxLinger caps the closed streams remembered. 0: DefaultMaxLinger.
	MaxLinger int

	// MaxShift caps the bytes a stream may move to insert earlier data at
	// its front (SYN-less streams, as tcpflow does); earlier data past it
	// is dropped as a violation. 0 means DefaultMaxShift.
	MaxShift int64

	// MaxSpans caps the separate received ranges tracked per stream; past
	// it the lowest gap is given up as a hole. 0 means DefaultMaxSpans.
	MaxSpans int

	// OnEvent, if set, is told of each segment whose data came out of
	// order, overlapped data received before, or repeated it (flowcap -l).
	// It is called from the shard's goroutine, before the data is placed;
	// s is read-only and must not be kept. Not called with Arrival.
	OnEvent func(s *Stream, e Event)

	// Index and Count make Session numbers unique across shards: shard
	// Index of Count numbers its connections Index, Index+Count, ...
	Index, Count int
}

func (c Config) withDefaults() Config {
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxGap <= 0 {
		c.MaxGap = DefaultMaxGap
	}
	if c.MaxFlows <= 0 {
		c.MaxFlows = DefaultMaxFlows
	}
	if c.MaxPendingStream <= 0 {
		c.MaxPendingStream = DefaultMaxPendingStream
	}
	if c.Pending == nil {
		c.Pending = NewBudget(DefaultMaxPending)
	}
	if c.Linger == 0 {
		c.Linger = DefaultLinger
	}
	if c.MaxLinger <= 0 {
		c.MaxLinger = DefaultMaxLinger
	}
	if c.MaxShift <= 0 {
		c.MaxShift = DefaultMaxShift
	}
	if c.MaxSpans < 2 {
		c.MaxSpans = DefaultMaxSpans
	}
	if c.Count < 1 {
		c.Index, c.Count = 0, 1
	}
	return c
}

// Budget is a byte budget shared by goroutines: one atomic counter.
type Budget struct {
	limit int64
	used  atomic.Int64
}

// NewBudget returns a budget of limit bytes.
func NewBudget(limit int64) *Budget { return &Budget{limit: limit} }

// take adds n bytes and reports whether the budget still holds them.
func (b *Budget) take(n int64) bool { return b.used.Add(n) <= b.limit }

func (b *Budget) give(n int64) { b.used.Add(-n) }

// Used returns the bytes in use.
func (b *Budget) Used() int64 { return b.used.Load() }
