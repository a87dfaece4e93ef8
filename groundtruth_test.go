package main

import (
	"path/filepath"
	"testing"

	"github.com/flowcap/flowcap/capture/capturetest"
)

// TestGroundTruth runs flowcap on captures written by capturetest and
// compares every flow file with the one known by construction: names,
// bytes, and no other file.
func TestGroundTruth(t *testing.T) {
	conns := compatConns
	withLink := func(cs []capturetest.Conn, l capturetest.Link) []capturetest.Conn {
		for i := range cs {
			cs[i].Link = l
		}
		return cs
	}
	reuse := conns(1, false, 3000, 5000)
	reuse = append(reuse, reuse[0], reuse[0])
	reuse[1].ClientData, reuse[2].ServerData = capturetest.Bytes("second connection"), capturetest.Bytes("third connection")
	reuse[2].Close = capturetest.CloseRST
	newSYN := conns(1, false, 3000, 5000)
	newSYN[0].Close = capturetest.CloseNone
	newSYN = append(newSYN, newSYN[0])
	newSYN[1].Close = capturetest.CloseFIN
	vlan := conns(4, false, 2000, 3000)
	vlan[0].VLAN = []capturetest.VLAN{{TCI: 10}}
	vlan[1].VLAN = []capturetest.VLAN{{TCI: 5<<13 | 10}}
	vlan[2].VLAN = []capturetest.VLAN{{TPID: 0x88a8, TCI: 100}, {TCI: 20}}
	vlan[3].VLAN = []capturetest.VLAN{{TCI: 30}, {TPID: 0x9100, TCI: 40}}
	midstream := conns(10, false, 9000, 20000)
	for i := range midstream {
		midstream[i].Midstream = true
	}
	turns := conns(6, false, 20000, 30000)
	for i := range turns {
		turns[i].Turn = 3000
	}
	synData := conns(3, false, 2000, 2000)
	for i := range synData {
		synData[i].SYNData = 100 * (i + 1)
	}
	mixed := append(conns(4, false, 3000, 4000), conns(2, true, 3000, 4000)...)
	mixed[1].Link, mixed[2].Link, mixed[3].Link, mixed[5].Link = capturetest.SLL, capturetest.SLL2, capturetest.Raw, capturetest.Null

	type gtCase struct {
		s *capturetest.Scenario
		f capturetest.Format
	}
	cases := map[string]gtCase{
		"interleaved": {s: &capturetest.Scenario{Seed: 1, Conns: conns(200, false, 3000, 12000)}},
		"turns":       {s: &capturetest.Scenario{Seed: 2, Conns: turns, Concurrency: 3}},
		"reorder":     {s: &capturetest.Scenario{Seed: 3, Conns: conns(20, false, 20000, 30000), Reorder: 0.3, ReorderDepth: 6}},
		"duplicates":  {s: &capturetest.Scenario{Seed: 4, Conns: conns(20, false, 20000, 30000), Duplicate: 0.2, Retransmit: 0.2}},
		"overlaps last-wins": {s: &capturetest.Scenario{Seed: 5, Conns: conns(20, false, 20000, 30000),
			Conflict: 0.3, Reorder: 0.1}},
		"holes":           {s: &capturetest.Scenario{Seed: 6, Conns: conns(20, false, 20000, 30000), Drop: 0.2}},
		"port reuse":      {s: &capturetest.Scenario{Seed: 7, Conns: reuse}},
		"new SYN on open": {s: &capturetest.Scenario{Seed: 8, Conns: newSYN}},
		"midstream":       {s: &capturetest.Scenario{Seed: 9, Conns: midstream, Reorder: 0.3}},
		"sequence wrap":   {s: &capturetest.Scenario{Seed: 10, Conns: conns(10, false, 50000, 80000), WrapISN: true, Reorder: 0.2, Duplicate: 0.1}},
		"keep-alive":      {s: &capturetest.Scenario{Seed: 11, Conns: turns[:3], KeepAlive: true}},
		"SYN data":        {s: &capturetest.Scenario{Seed: 12, Conns: synData}},
		"RST close":       {s: &capturetest.Scenario{Seed: 13, Conns: withClose(conns(5, false, 4000, 4000), capturetest.CloseRST)}},
		"ipv6":            {s: &capturetest.Scenario{Seed: 14, Conns: conns(20, true, 5000, 9000), Reorder: 0.1, Duplicate: 0.1}},
		"ipv6 ext headers": {s: &capturetest.Scenario{Seed: 15, Conns: conns(5, true, 5000, 9000), IPv6ExtHeaders: true,
			Fragment: 0.3, FragShuffle: true}},
		"vlan":           {s: &capturetest.Scenario{Seed: 16, Conns: vlan}},
		"ipv4 fragments": {s: &capturetest.Scenario{Seed: 17, Conns: conns(5, false, 8000, 12000), Fragment: 0.5, FragShuffle: true, FragSize: 128}},
		"ipv4 options":   {s: &capturetest.Scenario{Seed: 18, Conns: conns(5, false, 5000, 5000), IPv4Options: true, Fragment: 0.2}},
		"padding":        {s: &capturetest.Scenario{Seed: 19, Conns: conns(5, false, 3000, 100), Pad: true, KeepAlive: true}},
		"tso":            {s: &capturetest.Scenario{Seed: 20, Conns: conns(3, false, 50000, 70000), TSO: true, MSS: 30000}},
		"gro frames":     {s: &capturetest.Scenario{Seed: 21, Conns: conns(2, false, 300000, 400000), MSS: 65000}},
		"mixed links":    {s: &capturetest.Scenario{Seed: 22, Conns: mixed}, f: capturetest.Format{NG: true}},
		"everything": {s: &capturetest.Scenario{Seed: 23, Conns: append(conns(30, false, 30000, 40000), conns(10, true, 10000, 5000)...),
			Concurrency: 12, Reorder: 0.1, Duplicate: 0.05, Retransmit: 0.05, Conflict: 0.05, Drop: 0.05, WrapISN: true,
			Fragment: 0.05, Pad: true, IPv6ExtHeaders: true}},
	}
	for _, l := range capturetest.Links {
		cs := append(conns(3, false, 4000, 6000), conns(3, true, 4000, 6000)...)
		switch l {
		case capturetest.IPv4Raw:
			cs = cs[:3]
		case capturetest.IPv6Raw:
			cs = cs[3:]
		}
		cases["link "+l.String()] = gtCase{s: &capturetest.Scenario{Seed: 24, Conns: withLink(cs, l), Reorder: 0.1}}
	}
	for _, f := range capturetest.Formats {
		cases["format "+f.String()] = gtCase{s: &capturetest.Scenario{Seed: 25, Conns: conns(10, false, 5000, 7000), Reorder: 0.1}, f: f}
	}

	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for _, gz := range []bool{false, true} {
				if gz && name != "interleaved" && name != "format pcapng-be-ns" {
					continue // gzip: two cases are enough
				}
				file := "c.pcap"
				if gz {
					file += ".gz"
				}
				path := filepath.Join(t.TempDir(), file)
				if _, err := c.s.WriteFile(path, c.f); err != nil {
					t.Fatal(err)
				}
				dir, _, stderr, code := runFlowcap(t, path)
				if code != 0 {
					t.Errorf("%s: flowcap exit %d: %s", file, code, stderr)
				}
				sameFiles(t, "flowcap "+file, readOutput(t, dir), c.s.Expected())
			}
		})
	}
}

func withClose(cs []capturetest.Conn, c capturetest.Close) []capturetest.Conn {
	for i := range cs {
		cs[i].Close = c
	}
	return cs
}
