package capturetest

import "fmt"

// Workloads names the benchmark workloads Workload builds.
var Workloads = []string{"interleaved", "short", "gro"}

// Workload returns one of the benchmark scenarios (gencap writes them,
// flowbench measures them):
//
//   - interleaved: conns connections (default 10,000) open at once, their
//     packets interleaved at random, 1460-byte segments (1514-byte frames);
//     each client sends 1/8 of its share of size, the server the rest.
//   - short: many short connections (default 200,000), about 2 KiB each
//     way, 1000 open at a time; size is ignored.
//   - gro: a few flows (default 4) of 65000-byte segments, frames larger
//     than the MTU as a GRO capture has them.
//
// conns 0 takes the default. The same arguments give the same packets.
func Workload(name string, conns int, size int64, seed uint64, v6 bool) (*Scenario, error) {
	sc := &Scenario{Seed: seed}
	var client, server func(i int) int64
	switch name {
	case "interleaved":
		conns = or(conns, 10000)
		share := size / int64(conns)
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
		share := size / int64(conns)
		client = func(int) int64 { return 1024 }
		server = func(int) int64 { return max(share-1024, 0) }
	default:
		return nil, fmt.Errorf("unknown workload %q (interleaved, short, gro)", name)
	}
	sc.Conns = make([]Conn, conns)
	for i := range sc.Conns {
		c, s := Endpoints(i, v6)
		sc.Conns[i] = Conn{
			Client: c, Server: s,
			ClientData: Pattern(seed^uint64(2*i), client(i)),
			ServerData: Pattern(seed^uint64(2*i+1), server(i)),
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
