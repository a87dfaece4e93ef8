// Package capture reads packets (pcap and pcapng files, gzip, stdin, live
// AF_PACKET sockets) and decodes each into a reassembly.Segment.
package capture
