// Package bpf compiles tcpdump filter expressions (pcap-filter(7)) to
// classic BPF programs, without libpcap, and runs them.
//
// # Use
//
//	f, err := bpf.NewFilter("tcp port 80 and host 10.0.0.1", bpf.Options{})
//	prog, err := f.Program(bpf.LinkTypeEthernet) // once per link type a capture brings
//	if prog.Match(pkt, wireLen) { ... }           // per packet; no allocation
//	sock.SetBPF(prog.Raw())                       // or give the kernel the instructions
//
// For the kernel's filter on a live Linux AF_PACKET socket, compile with
// Options{Live: true} (see below) and give the kernel Raw(); match packets
// in user space with the program for files.
//
// Compile(expr, linkType, opts) does both steps at once. Filter.And joins
// filters ("-F EXPR" and trailing words); PortsExpr turns a "-P 80,443"
// list into an expression; LinkTypeByName reads tcpdump's -y names; Format
// prints a program as tcpdump -d, -dd or -ddd do.
//
// # How it works
//
// The lexer (lexer.go) splits the expression as libpcap's flex scanner
// does. The parser (parser.go) builds a syntax tree (ast.go), resolving
// names from built-in tables (services.go: the IANA names of Debian's
// /etc/services and /etc/protocols) and checking what does not depend on
// the link type. The code generator (codegen.go, arith.go) follows
// libpcap's gencode.c over a tree of tests; the assembler (asm.go) lays it
// out as jumping code with symbolic labels; the optimiser (optimize.go,
// values.go) removes what every path already knows; one final pass
// resolves the labels to jump offsets, adding "ja" trampolines where a
// conditional jump would span more than 255 instructions, and refuses
// programs over the kernel's 4096 instructions. Programs jump forward only
// and return the snap length on accept. vm.go runs them.
//
// # Semantics
//
// The meaning is libpcap's (tcpdump 4.99.3, libpcap 1.10.3), checked by a
// differential test that runs flowcap's and tcpdump's programs over every
// test packet (difftest_test.go). In particular: and/or have equal
// precedence and associate left to right, not binds tightest; a bare value
// reuses the previous qualifiers; "host A" also matches ARP and RARP
// addresses; port tests skip IPv4 fragments other than the first and look
// at IPv6 ports only right after the fixed header; "port http" is TCP only
// because http is a TCP service; "vlan" moves the offsets of everything
// compiled after it; tcp[...] and friends apply to IPv4 only; "len" is the
// length on the wire.
//
// A load past the end of a captured packet rejects it, as in the kernel, so
// on a packet cut short the verdict depends on which loads run. flowcap's is
// that of libpcap's unoptimised program (tcpdump -O): the optimiser drops
// only loads of values already loaded and code from which every path
// rejects. tcpdump's default optimiser also drops some other loads (and
// reorders some), so on a truncated packet tcpdump and tcpdump -O can
// disagree; the differential test then requires flowcap to agree with
// tcpdump -O, and everywhere else with tcpdump.
//
// Where flowcap deliberately differs from tcpdump 4.99.3:
//
//   - "ip multicast" is 224.0.0.0/4 (libpcap 1.11's fix); libpcap 1.10
//     tests ip[16] >= 224, which also takes 240.0.0.0/4 and
//     255.255.255.255.
//   - "byte N & V" and "byte N | V" load the byte (libpcap 1.11's fix);
//     libpcap 1.10 tests whatever A happens to hold.
//   - NULL (BSD loopback) headers are accepted in either byte order:
//     libpcap compiles for the byte order of the file it reads, flowcap
//     compiles one program for every file. IPv6 is address family 24, 28
//     or 30, as for libpcap reading a file.
//   - An expression that rejects every packet compiles to "ret #0";
//     tcpdump refuses it, but a pcapng file may mix link types.
//   - "ip broadcast" uses netmask 0 (broadcast is 0.0.0.0 or
//     255.255.255.255), as tcpdump does reading a file.
//   - Host, network and /etc/ethers names are not resolved: give addresses.
//
// Not supported (a clear error): gateway, protochain, mpls, pppoed,
// pppoes, geneve, llc, 802.11 (wlan type/subtype/dir, addr1-4, ra, ta),
// decnet, iso/esis/isis/clnp, ATM, SS7, pf, radio, ARCnet addresses, and
// for files inbound/outbound/ifindex except on LINUX_SLL/LINUX_SLL2.
//
// # Live Linux sockets
//
// With Options.Live the code is libpcap 1.10.3's for a live capture on
// Linux (live.go), where the filter reads packet metadata through
// ancillary loads (SKF_AD_*):
//
//   - EN10MB, an Ethernet interface: the kernel takes the outer 802.1Q or
//     802.1ad tag off before the filter runs. The first "vlan" tests the
//     metadata (vlanp, vlan_tci) and falls back to the tag types in the
//     frame; the offsets after it add a part known only at run time, kept
//     in scratch word M[0] (0, or 4 for a tag left in the frame). The
//     condition tree carries it as an effect, a statement list the
//     optimiser never jumps over.
//   - LINUX_SLL2 or LINUX_SLL: the cooked socket of "any", which starts
//     the packet at its network header. The program is compiled for the
//     cooked header, then cook moves its loads as libpcap's fix_program
//     does: protocol, interface index and packet type become ancillary
//     loads, payload offsets lose the header's length. Any other header
//     byte is an error located in the expression.
//   - Every link type: inbound, outbound and ifindex test the kernel's
//     packet type and interface index.
//
// A live program reads metadata only the kernel has: Program.Match panics
// on it. livediff_test.go runs live programs beside libpcap's (tcpdump -i
// IF -ddd) in a test interpreter that answers ancillary loads from
// per-packet metadata.
package bpf
