// Command gencap writes a synthetic capture for benchmarks, with a known
// number of flow files:
//
//	gencap -workload interleaved -conns 10000 -size 1GiB -o x.pcap
//	gencap -workload short -conns 200000 -o short.pcap
//	gencap -workload gro -size 1GiB -o gro.pcapng
//
// interleaved: conns connections open at once, packets interleaved at
// random, 1460-byte segments (1514-byte frames); each client sends 1/8 of
// its share of size, the server the rest. short: many short connections,
// about 2 KiB each way, 1000 open at a time (size is ignored). gro: a few
// flows of 65000-byte segments, frames larger than the MTU as a GRO capture
// has them, IP total length set. A name ending in .pcapng writes pcapng, in
// .gz gzip-compressed.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/flowcap/flowcap/capture/capturetest"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("gencap", flag.ContinueOnError)
	fs.SetOutput(stderr)
	workload := fs.String("workload", "interleaved", "interleaved, short or gro")
	conns := fs.Int("conns", 0, "connections (default: interleaved 10000, short 200000, gro 4)")
	size := fs.String("size", "1GiB", "payload bytes in all (interleaved, gro): 1GiB, 100MiB, 5MB, 12345")
	out := fs.String("o", "", "output file (.pcap, .pcapng, optionally .gz)")
	seed := fs.Uint64("seed", 1, "seed of everything random")
	v6 := fs.Bool("6", false, "IPv6 endpoints")
	nanos := fs.Bool("ns", false, "nanosecond timestamps")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *out == "" || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "gencap: -o FILE is required and no arguments are taken")
		return 2
	}
	total, err := parseSize(*size)
	if err != nil {
		fmt.Fprintln(stderr, "gencap:", err)
		return 2
	}
	sc, err := build(*workload, *conns, total, *seed, *v6)
	if err != nil {
		fmt.Fprintln(stderr, "gencap:", err)
		return 2
	}
	f := capturetest.Format{Nanos: *nanos, NG: strings.HasSuffix(strings.TrimSuffix(*out, ".gz"), ".pcapng")}
	st, err := sc.WriteFile(*out, f)
	if err != nil {
		fmt.Fprintln(stderr, "gencap:", err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: %d packets, %d bytes of frames, %d connections, %d expected flow files (%s)\n",
		*out, st.Packets, st.Bytes, len(sc.Conns), st.Files, f)
	return 0
}

func build(workload string, conns int, total int64, seed uint64, v6 bool) (*capturetest.Scenario, error) {
	sc := &capturetest.Scenario{Seed: seed}
	var client, server func(i int) int64
	switch workload {
	case "interleaved":
		conns = or(conns, 10000)
		share := total / int64(conns)
		client = func(int) int64 { return share / 8 }
		server = func(int) int64 { return share - share/8 }
	case "short":
		conns = or(conns, 200000)
		sc.Concurrency = 1000
		client = func(i int) int64 { return 1536 + int64(i*7919%1024) }
		server = func(i int) int64 { return 1536 + int64(i*104729%1024) }
	case "gro":
		conns = or(conns, 4)
		sc.MSS = 65000
		share := total / int64(conns)
		client = func(int) int64 { return 1024 }
		server = func(int) int64 { return share - 1024 }
	default:
		return nil, fmt.Errorf("unknown workload %q (interleaved, short, gro)", workload)
	}
	sc.Conns = make([]capturetest.Conn, conns)
	for i := range sc.Conns {
		c, s := capturetest.Endpoints(i, v6)
		sc.Conns[i] = capturetest.Conn{
			Client: c, Server: s,
			ClientData: capturetest.Pattern(seed^uint64(2*i), client(i)),
			ServerData: capturetest.Pattern(seed^uint64(2*i+1), server(i)),
		}
	}
	return sc, nil
}

func or(n, def int) int {
	if n > 0 {
		return n
	}
	return def
}

// parseSize reads 1GiB, 512MiB, 64KiB, 5GB, 100MB, 10kB or a byte count.
func parseSize(s string) (int64, error) {
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"kB", 1e3}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSuffix(s, u.suffix), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return int64(n * float64(mult)), nil
}
