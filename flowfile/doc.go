// Package flowfile writes reassembled TCP streams to files named as
// tcpflow 1.6.1 names them, one file per direction that carried payload.
//
// A Writer owns the output directory; Writer.Sink(i) is the
// reassembly.Sink of shard i, used by that shard's goroutine only. The
// sinks share nothing but atomic counters: the descriptor budget, the
// write-buffer memory budget and the statistics. Since a connection's two
// directions live in one shard and file names derive from the key, no two
// sinks ever touch the same file, and the files are the same for any
// number of shards.
//
// Names (Name): sender first, IPv4 as zero-padded dotted quads, IPv6 as
// glibc's inet_ntop writes it, ports as five digits, "--" and the raw
// 802.1Q TCI when the first packet had one, then "c1", "c2"... when the
// name is taken. Each file is created with O_CREAT|O_EXCL|O_NOFOLLOW
// relative to the directory's descriptor, so a file left by a previous run
// or a planted symbolic link only moves the flow to the next name; nothing
// is ever followed or overwritten, and names hold no '/'.
//
// Writes are buffered per stream (up to Config.BufferSize, growing from
// 256 bytes) so that small segments become large writes; data arriving
// below the buffer is written with pwrite at its offset (overlaps: the last
// write wins, holes stay sparse zeros). Buffers are written out when full,
// when their stream closes, and, least recently used first, when all
// shards together hold Config.MaxBuffer bytes. A file needs a descriptor
// only while being written: at most Config.MaxOpen are open across the
// shards (by default RLIMIT_NOFILE less a reserve); past it the least
// recently used file of the shard is closed and reopened later. When a
// stream closes its file is complete on disk, closed, and its mtime and
// atime are the stream's first packet time. Bytes at offsets Config.MaxBytes
// and beyond are dropped (tcpflow -b).
package flowfile
