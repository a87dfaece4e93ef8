// Package bpf compiles tcpdump filter expressions (pcap-filter(7)) to
// classic BPF programs, without libpcap.
package bpf
