package main

import (
	"errors"
	"fmt"
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
		UsageText: "flowcap filter [-y LINKTYPE] [-d|-dd|-ddd] [-s SNAPLEN] EXPRESSION...\n\n" +
			"   -ddd output loads into tcpdump -ddd consumers, e.g.\n" +
			"   iptables -m bpf --bytecode \"$(flowcap filter -ddd 'tcp port 80' | tr '\\n' ',')\"",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "y", Value: "EN10MB", Usage: "compile for link type `LINKTYPE`: EN10MB, LINUX_SLL, LINUX_SLL2, RAW, IPV4, IPV6, NULL, LOOP or a number"},
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
	snaplen := c.Uint("s")
	if snaplen == 0 || uint64(snaplen) > 1<<32-1 {
		return fmt.Errorf("filter -s %d: must be between 1 and 4294967295", snaplen)
	}
	p, err := bpf.Compile(expr, lt, bpf.Options{Snaplen: uint32(snaplen)})
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
