// Package reassembly rebuilds the byte stream of each direction of every TCP
// connection from decoded segments, the way tcpflow places data: by sequence
// number relative to the direction's initial sequence number.
//
// Data flows in one direction only: a pipeline hashes each Segment's Key to a
// Shard (both directions of a connection land in the same shard), one
// goroutine owns each Shard, and the Shard tells a Sink what bytes go where in
// which flow. The package depends on the standard library alone.
package reassembly
