package main

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/flowcap/flowcap/bpf"
	"github.com/urfave/cli/v2"
)

// filterCommand is "flowcap filter": compile a tcpdump filter expression
// and print the BPF program as tcpdump -d, -dd or -ddd print theirs.
func filterCommand() *cli.Command {
	return &cli.Command{
		Name:  "filter",
		Usage: "compile a tcpdump filter expression and print the BPF program (like tcpdump -d)",
		UsageText: "flowcap filter [-y LINKTYPE [--live] | -i IF] [-d|-dd|-ddd] [-s SNAPLEN] EXPRESSION...\n\n" +
			"   -ddd output loads into tcpdump -ddd consumers, e.g.\n" +
			"   iptables -m bpf --bytecode \"$(flowcap filter -ddd 'tcp port 80' | tr '\\n' ',')\"\n" +
			"   -i IF (or --live) prints the program for the kernel's filter on a live socket,\n" +
			"   as flowcap capture -i IF attaches it: VLAN tags in the kernel's metadata, any as a cooked socket",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "y", Value: "EN10MB", Usage: "compile for link type `LINKTYPE`: EN10MB, LINUX_SLL, LINUX_SLL2, RAW, IPV4, IPV6, NULL, LOOP or a number"},
			&cli.BoolFlag{Name: "live", Usage: "compile for a live Linux socket of link type -y (LINUX_SLL2: the cooked socket of -i any), not for a file"},
			&cli.StringFlag{Name: "i", Usage: "compile for a live capture on interface `IF` (any: every interface), like tcpdump -i IF -d"},
			&cli.BoolFlag{Name: "d", Usage: "print the program as an assembly listing (the default)"},
			&cli.BoolFlag{Name: "dd", Usage: "print the program as a C array"},
			&cli.BoolFlag{Name: "ddd", Usage: "print the instruction count, then one \"code jt jf k\" line per instruction"},
			&cli.UintFlag{Name: "s", Value: bpf.DefaultSnaplen, Usage: "accept with `SNAPLEN` (the bytes of a packet the kernel keeps)"},
		},
		Action:       filterAction,
		OnUsageError: usageError,
	}
}

func filterAction(c *cli.Context) error {
	expr := strings.Join(c.Args().Slice(), " ")
	if strings.TrimSpace(expr) == "" {
		return errors.New("filter: no expression (for example: flowcap filter 'tcp port 80')")
	}
	lt, err := bpf.LinkTypeByName(c.String("y"))
	if err != nil {
		return fmt.Errorf("filter -y: %w", err)
	}
	live := c.Bool("live")
	if iface := c.String("i"); iface != "" {
		if c.IsSet("y") {
			return errors.New("filter: give -i (the interface's link type) or -y, not both")
		}
		if lt, err = liveLinkType(iface); err != nil {
			return fmt.Errorf("filter -i: %w", err)
		}
		live = true
	}
	snaplen := c.Uint("s")
	if snaplen == 0 || uint64(snaplen) > 1<<32-1 {
		return fmt.Errorf("filter -s %d: must be between 1 and 4294967295", snaplen)
	}
	p, err := bpf.Compile(expr, lt, bpf.Options{Snaplen: uint32(snaplen), Live: live})
	if err != nil {
		return err
	}
	style := bpf.Listing
	switch {
	case c.Bool("ddd"):
		style = bpf.Decimal
	case c.Bool("dd"):
		style = bpf.CArray
	}
	if raw := p.Raw(); len(raw) == 1 && raw[0].K == 0 {
		fmt.Fprintln(c.App.ErrWriter, "flowcap: warning: expression rejects all packets")
	}
	_, err = fmt.Fprint(c.App.Writer, bpf.Format(p, style))
	return err
}

// liveLinkType is the link type flowcap capture -i name compiles the
// kernel's filter for: the cooked socket (LINUX_SLL2, as tcpdump -i any)
// for any, Ethernet for an Ethernet or loopback interface, raw IP for the
// rest (links without a header, such as tun, and those flowcap reads
// through a cooked socket, whose packets start at the network header).
func liveLinkType(name string) (uint32, error) {
	if name == "any" {
		return bpf.LinkTypeLinuxSLL2, nil
	}
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return 0, fmt.Errorf("interface %s: no such interface (or --live -y LINKTYPE for one that is not here)", name)
	}
	if ifi.Flags&net.FlagLoopback != 0 || len(ifi.HardwareAddr) == 6 {
		return bpf.LinkTypeEthernet, nil
	}
	return bpf.LinkTypeRaw, nil
}
