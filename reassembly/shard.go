package reassembly

// STUB: the reassembly work replaces this file; the signatures are the
// contract the pipeline is written against (extend, do not break).

// Config holds the reassembly rules.
type Config struct{}

// Sink is told what bytes go where in which stream.
type Sink interface{}

// Stats counts what a shard did.
type Stats struct {
	Connections uint64
	Holes       uint64
}

// Shard owns the connections whose keys hash to it. One goroutine calls it.
type Shard struct{ sink Sink }

// NewShard returns an empty shard writing to sink.
func NewShard(cfg Config, sink Sink) *Shard { return &Shard{sink: sink} }

// Handle places one segment. An error is fatal (the sink could not write).
func (s *Shard) Handle(seg *Segment) error { return nil }

// Tick tells the shard the capture clock (ns) so idle flows can close.
func (s *Shard) Tick(now int64) error { return nil }

// Finish closes every flow at the end of the input.
func (s *Shard) Finish() error { return nil }

// Stats returns the shard's counters.
func (s *Shard) Stats() Stats { return Stats{} }
