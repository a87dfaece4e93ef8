package reassembly

// Seq is a TCP sequence number. Arithmetic wraps at 2^32; every comparison
// goes through these methods, so a stream longer than 4 GiB stays ordered.
type Seq uint32

// Add returns s advanced by n bytes (n may be negative).
func (s Seq) Add(n int64) Seq { return Seq(int64(s) + n) }

// Diff returns s - t as a signed distance: positive when s is after t.
// Distances beyond ±2 GiB are ambiguous, as in TCP itself.
func (s Seq) Diff(t Seq) int32 { return int32(s - t) }

// LessThan reports whether s comes before t.
func (s Seq) LessThan(t Seq) bool { return s.Diff(t) < 0 }
