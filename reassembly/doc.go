// Package reassembly rebuilds the byte stream of each direction of every TCP
// connection from decoded segments, the way tcpflow 1.6.1 places data: by
// sequence number relative to the direction's initial sequence number.
//
// Data flows one way: a pipeline hashes each Segment's Key to a Shard (both
// directions of a connection land in the same shard), one goroutine owns
// each Shard and calls Handle for every segment, then Tick with the capture
// clock, and Finish at the end of the input. The Shard keeps a Stream per
// direction and tells a Sink what bytes go where. The package depends on
// the standard library alone.
//
// # Streams
//
// A direction opens with a SYN, or with its first data segment when the
// handshake was missed (its ISN is then that segment's sequence number less
// one). Each payload byte goes to offset seq-ISN-1, computed near the
// previous segment so that streams past 4 GiB stay right. Out-of-order data
// is held (copied) until the bytes before it arrive, so the Sink sees most
// of a stream in order; past Config.MaxPendingStream bytes per stream or
// the shared Config.Pending budget, held data is written at once, leaving a
// hole that later data may still fill. Overlapping data replaces what was
// there (LastWins, tcpflow) or not (FirstWins). Bytes no segment carried
// stay holes (zeros in a file), counted per stream when it closes.
//
// As in tcpflow: a one-byte segment just before the previous segment's end
// is a keep-alive and ignored; data before offset 0 of a stream opened by a
// SYN is dropped (a violation); in a SYN-less stream it is inserted at the
// front, the Sink shifting what it stored (Sink.Shift). A stream closes on
// RST, on FIN once every byte before the FIN arrived, when a segment lies
// more than Config.MaxGap away (its data opens a new stream), and at the end
// of input. Unlike tcpflow: a SYN with another ISN closes the open stream
// and opens a new one (tcpflow drops the SYN and zero-fills its file), idle
// streams close after Config.IdleTimeout of capture time, and at most
// Config.MaxFlows streams are open per shard (the least recently used one
// is closed, never dropped).
//
// A closed stream is remembered for Config.Linger: a later segment on its
// key whose data its Sink already stored (a Checker says so) is a
// straggler and ignored, as tcpflow does for its last 100 closed flows;
// other data opens a new stream, which a file sink names with c1, c2...
//
// # Sinks
//
// A Sink gets Write(s, off, p) calls (p valid during the call only), Shift
// calls, and one Close(s) per stream, data-less streams included; a sink
// keeps its per-stream state in s.Handle. Stream's exported fields (key,
// VLAN, MACs, times, counters, Reason) are set by the shard and read-only
// for sinks; they are final when Close is called. A sink that can read back
// what it stored implements Checker, for stragglers and for counting
// retransmitted bytes that differed. A Sink must not keep a *Stream after
// Close: the shard recycles it. At Close, Stream.PeerOpen says whether the
// connection's other direction is still open (reports join both) and
// Stream.AppendHoles lists the holes. A sink that implements FrameSink also
// gets each segment's raw frame (Segment.Frame, set only for flowcap -K).
// Config.OnEvent, if set, hears of each segment that came out of order,
// overlapped data received before or repeated it (flowcap -l).
//
// Decisions for one connection depend only on that connection's segments
// (and capture times), so the output is the same for any number of shards;
// only the memory limits (MaxFlows, MaxLinger) can make it differ.
package reassembly
