package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestConsoleTcpflow: on captures without loss or reordering, flowcap's
// console prints what tcpflow 1.6.1's does, byte for byte: text (the
// captures are printable: no byte tcpflow would strip), -D hex dumps,
// -g colours, -C without header, -B raw bytes, names with the -o
// directory, IPv6 names. -a prints every segment in capture order, as
// tcpflow's console always does, retransmissions included (on captures
// without Ethernet padding, which tcpflow 1.6.1 takes for data).
func TestConsoleTcpflow(t *testing.T) {
	tcpflow := lookTcpflow(t)
	const (
		get  = "zeek__doc__traces__get.trace" // HTTP, printable, in order
		pop3 = "suricata__pop3-auth-01__input.pcap"
		eth  = "gopacket__pcap__test_ethernet.pcap" // tabs: raw only
		ipv6 = "pcapplusplus__four_ipv6_http_streams.pcap"
		http = "pcapplusplus__650HttpResponses.pcap"                // retransmissions, SYN-less flows
		olap = "suricata__eve-overlap-payload-01__tcp-overlap.pcap" // overlap, VLAN
	)
	tests := []struct {
		capture       string
		flowcap, tcpf []string
		inOrder       bool // the premise: no hole, nothing late or repeated
	}{
		{get, []string{"-c"}, []string{"-c"}, true},
		{pop3, []string{"-c"}, []string{"-c"}, true},
		{get, []string{"-D"}, []string{"-c", "-D"}, true},
		{pop3, []string{"-c", "-g"}, []string{"-c", "-g"}, true},
		{get, []string{"-j"}, []string{"-C"}, true},
		{get, []string{"-c", "-o", "OUT"}, []string{"-c", "-o", "OUT"}, true},
		{eth, []string{"-x"}, []string{"-c", "-B"}, true},
		{ipv6, []string{"-x"}, []string{"-c", "-B"}, true},
		{http, []string{"-a", "-x"}, []string{"-c", "-B"}, false},
		{olap, []string{"-a", "-x"}, []string{"-c", "-B"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.capture+" "+strings.Join(tt.flowcap, " "), func(t *testing.T) {
			dir := t.TempDir()
			path, err := filepath.Abs(filepath.Join("testdata", "capture", tt.capture))
			if err != nil {
				t.Fatal(err)
			}
			fixDir := func(args []string) []string {
				out := make([]string, len(args))
				for i, a := range args {
					out[i] = strings.ReplaceAll(a, "OUT", filepath.Join(dir, "out"))
				}
				return out
			}
			var want, werr bytes.Buffer
			cmd := exec.Command(tcpflow, append(fixDir(tt.tcpf), "-r", path)...)
			cmd.Dir = dir // tcpflow -c still writes report.xml
			cmd.Stdout, cmd.Stderr = &want, &werr
			if err := cmd.Run(); err != nil {
				t.Fatalf("tcpflow: %v: %s", err, werr.String())
			}
			args := append([]string{"flowcap", "read", "--shards", "1"}, fixDir(tt.flowcap)...)
			if tt.inOrder {
				args = append(args, "-l")
			}
			var got, gerr bytes.Buffer
			flowcapMu.Lock()
			code := run(context.Background(), append(args, path), &got, &gerr)
			flowcapMu.Unlock()
			if code != 0 {
				t.Fatalf("flowcap exit %d: %s", code, gerr.String())
			}
			if tt.inOrder && !strings.Contains(gerr.String(), " 0 holes, 0 out-of-order, 0 overlapping, 0 retransmitted segments") {
				t.Fatalf("the capture is not what the test needs: %s", gerr.String())
			}
			if want.Len() == 0 {
				t.Fatal("tcpflow printed nothing")
			}
			if !bytes.Equal(got.Bytes(), want.Bytes()) {
				g, w := got.String(), want.String()
				i := 0
				for i < len(g) && i < len(w) && g[i] == w[i] {
					i++
				}
				t.Errorf("differs from tcpflow at byte %d of %d/%d:\nflowcap %q\ntcpflow %q", i, len(g), len(w), g[max(0, i-40):min(len(g), i+40)], w[max(0, i-40):min(len(w), i+40)])
			}
		})
	}
}
