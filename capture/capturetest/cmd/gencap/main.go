// Command gencap writes a synthetic capture for benchmarks, with a known
// number of flow files:
//
//	gencap -workload interleaved -conns 10000 -size 1GiB -o x.pcap
//	gencap -workload short -conns 200000 -o short.pcap
//	gencap -workload gro -size 1GiB -o gro.pcapng
//
// The workloads are capturetest.Workload's (-h lists them). A name ending
// in .pcapng writes pcapng, in .gz gzip-compressed.
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
	sc, err := capturetest.Workload(*workload, *conns, total, *seed, *v6)
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
