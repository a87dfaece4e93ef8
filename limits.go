package main

// The limits that keep flowcap bounded whatever it is fed: the flow table
// (--max-flows), the distance a sequence number may jump within one file
// (--max-gap, tcpflow's -m) and the disk the flow files may take
// (--max-disk). They apply to read and capture alike.

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/flowcap/flowcap/reassembly"
)

// defaultMaxFlows is --max-flows: directions open at once across all
// shards. An open direction holds about 600 bytes of heap, and the reports
// of closed ones make as much garbage again: under a flood of new
// connections flowcap's peak RSS stays near 180 MiB, under a sidecar's
// 256 MiB (measured: docs/robustness.md).
const defaultMaxFlows = 1 << 16

func limitFlags() []cli.Flag {
	return []cli.Flag{
		&cli.IntFlag{Name: "max-flows", Value: defaultMaxFlows, Usage: "keep at most `N` directions open at once; past it the least recently used is written out and closed (counted in the summary)"},
		&cli.StringFlag{Name: "max-gap", Aliases: []string{"m"}, Value: "16M", Usage: "a sequence number jump of more than `BYTES` starts a new file instead of a hole (tcpflow -m; K, M, G suffixes)"},
		&cli.StringFlag{Name: "max-disk", Usage: "write at most `BYTES` of flow files and reports in all (K, M, G, T suffixes); past it no more data is written nor connections reported, and what is left out is counted"},
	}
}

// limits binds the limit flags into cfg.
func limits(c *cli.Context, cfg *config) error {
	n := c.Int("max-flows")
	if n < cfg.shards {
		return fmt.Errorf("--max-flows %d: must be at least the number of shards (%d)", n, cfg.shards)
	}
	// reassembly.Config's MaxFlows and MaxLinger are per shard, and
	// connections spread evenly: each shard gets its share of the total,
	// so that the open and the remembered closed connections, and the heap
	// they take, are as many with any number of shards (with 16,384
	// remembered per shard, two shards ran the garbage collector three
	// times as often).
	share := func(total int) int { return (total + cfg.shards - 1) / cfg.shards }
	cfg.reassembly.MaxFlows = share(n)
	cfg.reassembly.MaxLinger = share(reassembly.DefaultMaxLinger)

	gap, err := parseBytes(c.String("max-gap"))
	if err != nil || gap < 1 {
		return fmt.Errorf("--max-gap %q: must be a positive number of bytes (K, M, G suffixes allowed)", c.String("max-gap"))
	}
	cfg.reassembly.MaxGap = gap

	if s := c.String("max-disk"); s != "" {
		disk, err := parseBytes(s)
		if err != nil || disk < 1 {
			return fmt.Errorf("--max-disk %q: must be a positive number of bytes (K, M, G, T suffixes allowed)", s)
		}
		cfg.maxDisk = disk
	}
	return nil
}

// byteCount is what parseBytes accepts: 16777216, 16M, 16MiB, 16MB, 1.
var byteCount = regexp.MustCompile(`^(?i)(\d+)\s*([kmgt]?)(ib|b)?$`)

// parseBytes reads a byte count: digits, optionally followed by K, M, G or
// T (powers of 1024: 16M is 16 MiB) and an optional B or iB.
func parseBytes(s string) (int64, error) {
	m := byteCount.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil || (m[2] == "" && strings.EqualFold(m[3], "ib")) {
		return 0, fmt.Errorf("%q: not a byte count", s)
	}
	shift := map[string]uint{"": 0, "k": 10, "m": 20, "g": 30, "t": 40}[strings.ToLower(m[2])]
	n, err := strconv.ParseInt(m[1], 10, 64)
	if err != nil || n > (1<<62)>>shift {
		return 0, fmt.Errorf("%q: not a byte count", s)
	}
	return n << shift, nil
}
