package capturetest

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"testing"
)

// conns returns n connections from Endpoints with pattern data of the
// given sizes, both directions.
func conns(n int, v6 bool, client, server int64) []Conn {
	cs := make([]Conn, n)
	for i := range cs {
		c, s := Endpoints(i, v6)
		cs[i] = Conn{Client: c, Server: s,
			ClientData: Pattern(uint64(2*i), client), ServerData: Pattern(uint64(2*i+1), server)}
	}
	return cs
}

// tcpflowScenarios are scenarios on which tcpflow 1.6.1 is right, so its
// output checks the generator's model of the expected files.
func tcpflowScenarios() map[string]*Scenario {
	reuse := conns(1, false, 3000, 5000)
	reuse = append(reuse, reuse[0], reuse[0])
	reuse[1].ClientData, reuse[2].ServerData = Bytes("second connection"), Bytes("third connection")
	vlan := conns(4, false, 2000, 3000)
	vlan[0].VLAN = []VLAN{{TCI: 10}}
	vlan[1].VLAN = []VLAN{{TCI: 5<<13 | 10}}
	vlan[2].VLAN = []VLAN{{TPID: 0x88a8, TCI: 100}, {TCI: 20}}
	vlan[3].VLAN = []VLAN{{TCI: 30}, {TCI: 40}}
	turns := conns(8, false, 20000, 30000)
	for i := range turns {
		turns[i].Turn = 3000
	}
	rst := conns(3, false, 4000, 4000)
	rst[1].Close, rst[2].Close = CloseRST, CloseNone
	wrap := conns(6, false, 50000, 80000)
	wrap[0].ClientISN, wrap[0].ServerISN = 0xffffffff, 0xfffffff0
	v6 := conns(6, true, 5000, 9000)
	v6[0].Client = netip.MustParseAddrPort("[::1]:40000")
	v6[0].Server = netip.MustParseAddrPort("[::1]:8080")
	v6[1].Client = netip.MustParseAddrPort("[fe80::1:0:0:5]:40000")
	v6[1].Server = netip.MustParseAddrPort("[::ffff:0:a00:1]:80")
	v6[2].Client = netip.MustParseAddrPort("[::ffff:10.0.0.5]:40000")
	v6[2].Server = netip.MustParseAddrPort("[::10.0.0.6]:80")
	v6[3].Client = netip.MustParseAddrPort("[2001:db8:0:0:1:0:0:1]:40000")
	mid := conns(10, false, 9000, 20000)
	for i := range mid {
		mid[i].Midstream = true
	}
	return map[string]*Scenario{
		"interleaved": {Seed: 1, Conns: conns(40, false, 6000, 20000)},
		"turns":       {Seed: 2, Conns: turns, Concurrency: 3, MSS: 1000},
		"reorder":     {Seed: 3, Conns: conns(10, false, 20000, 30000), Reorder: 0.3, ReorderDepth: 5},
		"duplicates":  {Seed: 4, Conns: conns(10, false, 20000, 30000), Duplicate: 0.2, Retransmit: 0.2},
		"conflicts":   {Seed: 5, Conns: conns(10, false, 20000, 30000), Conflict: 0.3},
		"holes":       {Seed: 6, Conns: conns(10, false, 20000, 30000), Drop: 0.2},
		"midstream":   {Seed: 7, Conns: mid, Reorder: 0.3},
		"wrap":        {Seed: 8, Conns: wrap, WrapISN: true, Reorder: 0.2},
		"keepalive":   {Seed: 9, Conns: turns[:4], KeepAlive: true},
		"reuse":       {Seed: 10, Conns: reuse},
		"rst":         {Seed: 11, Conns: rst},
		"vlan":        {Seed: 12, Conns: vlan},
		"ipv6":        {Seed: 13, Conns: v6, Reorder: 0.1, Duplicate: 0.1},
		"ipv4opts":    {Seed: 14, Conns: conns(3, false, 5000, 5000), IPv4Options: true},
		"everything": {Seed: 15, Conns: conns(30, false, 30000, 40000), Concurrency: 10,
			Reorder: 0.1, Duplicate: 0.05, Retransmit: 0.05, Conflict: 0.05, Drop: 0.05, WrapISN: true},
	}
}

// TestExpectedAgreesWithTcpflow checks the model of the expected files
// against tcpflow 1.6.1 where tcpflow is right.
func TestExpectedAgreesWithTcpflow(t *testing.T) {
	tool(t, "tcpflow")
	for name, s := range tcpflowScenarios() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for _, f := range []Format{{}, {NG: true, Nanos: true, BigEndian: true}} {
				path, st := writeTemp(t, s, f, "c.pcap")
				out := filepath.Join(t.TempDir(), "out")
				runTool(t, "tcpflow", "-r", path, "-o", out)
				want := s.Expected()
				if len(want) != st.Files {
					t.Errorf("%d expected files, Stats.Files %d", len(want), st.Files)
				}
				diffFiles(t, fmt.Sprintf("tcpflow on %v", f), readFlowDir(t, out), want)
			}
		})
	}
}
