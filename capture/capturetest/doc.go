// Package capturetest writes synthetic captures whose TCP streams are known
// by construction, for the tests and benchmarks of every flowcap package (as
// net/http/httptest does for HTTP).
//
// A Scenario lists connections (endpoints, link type, VLAN tags, the bytes
// each side sends) and the packetizer's options (MSS, interleaving,
// reordering, duplicates, overlaps with different bytes, holes, keep-alive
// probes, IP fragments, IPv6 extension headers, Ethernet padding, TSO
// frames...). Everything random comes from Scenario.Seed, so a scenario
// always yields the same packets.
//
// Data flows in one pass: the scheduler turns each connection into its
// packets, interleaves the connections, and hands each packet to either the
// frame encoder and a file writer (Write: pcap or pcapng, any byte order and
// timestamp resolution) or to the painter that computes the flow files a
// correct tcpflow-compatible reader must write (Expected): a map from the
// tcpflow file name to its bytes, holes zero-filled, overlapping data
// resolved last-wins (ExpectedFirstWins for the other policy). The naming
// is the package's own small implementation of tcpflow's, so it stays an
// independent ground truth.
package capturetest
