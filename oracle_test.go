package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
)

// The differential test: flowcap and tcpflow 1.6.1 (Debian's) read every
// capture in testdata/capture and must write the same flow files, names and
// bytes (report.xml aside), but for the deliberate differences below. Each
// names its section of docs/compat.md and lists exactly how the two
// directories differ, file by file; any other difference, or a listed one
// that does not happen, fails the test. compat_test.go shows on generated
// captures, whose flow files are known by construction, that flowcap's side
// of each difference is the right one.

// Why flowcap differs: the headings of docs/compat.md.
const (
	whyPadding       = "Ethernet padding is not data"
	whyIPv4Fragments = "IPv4 fragments are reassembled"
	whyIPv6Headers   = "IPv6 extension headers and fragments"
	whyLinkTypes     = "Link types tcpflow refuses"
	whyMixedLinks    = "pcapng files with several link types"
	whyNullIPv6      = "IPv6 on DLT_NULL from BSD and macOS"
	whyBadTCPHeader  = "TCP data offset below 5"
	whySeqJump       = "A sequence jump of exactly 2^31"
	whyUnsupported   = "Link types neither reads"
	whyCorrupt       = "Unreadable and cut-short capture files"
	whyIdle          = "Idle connections end after an hour of capture time"
)

// diffKind is how one file differs between the two directories.
type diffKind uint8

const (
	onlyTcpflow diffKind = iota + 1 // a file only tcpflow writes; n is its size
	onlyFlowcap                     // a file only flowcap writes; n is its size
	trailing                        // tcpflow's file is flowcap's followed by n more bytes
	truncated                       // tcpflow's file is flowcap's without its last n bytes
	changed                         // n bytes differ where both files have data
	tcpflowSize                     // tcpflow's file is too large to compare; n is its size
)

var diffKindNames = map[diffKind]string{onlyTcpflow: "onlyTcpflow", onlyFlowcap: "onlyFlowcap",
	trailing: "trailing", truncated: "truncated", changed: "changed", tcpflowSize: "tcpflowSize"}

func (k diffKind) String() string { return diffKindNames[k] }

type fileDiff struct {
	file string
	kind diffKind
	n    int64
}

func (d fileDiff) String() string { return fmt.Sprintf("{%q, %v, %d}", d.file, d.kind, d.n) }

// deliberate is how flowcap's output of one capture differs from
// tcpflow's, on purpose.
type deliberate struct {
	why        []string   // the sections of docs/compat.md that say why
	tcpflowErr string     // tcpflow exits non-zero and says this
	flowcapErr string     // flowcap says this on exactly one line of stderr
	diffs      []fileDiff // every differing file, sorted by name then kind
}

// deliberateDifferences holds the captures on which flowcap and tcpflow
// differ; on every other capture they write the same files.
var deliberateDifferences = map[string]deliberate{
	"gopacket__le__test002.pcapng": {
		why:        []string{whyCorrupt},
		tcpflowErr: "the capture file has no Interface Description Blocks",
	},
	"gopacket__le__test202.pcapng": {
		why:        []string{whyMixedLinks},
		tcpflowErr: "an interface has a type 0 different",
	},
	"gopacket__le__test300.pcapng": {
		why: []string{whyPadding},
		diffs: []fileDiff{
			{"112.080.248.076.00443-172.016.071.004.46920", trailing, 6},
			{"112.080.248.076.00443-172.016.071.004.46920c1", onlyTcpflow, 6},
		},
	},
	"pcapplusplus__Sll2Packet.pcap": {
		why:        []string{whyLinkTypes},
		tcpflowErr: "sorry - unknown datalink type 276",
	},
	"pcapplusplus__ipfragutil_ip_ids.pcap": {
		why: []string{whyIPv4Fragments},
		diffs: []fileDiff{
			{"172.016.030.190.08868-172.016.210.084.31600", truncated, 286},
			{"172.016.030.190.08869-172.016.210.084.31600", truncated, 362},
		},
	},
	"pcapplusplus__ldap.pcapng": {
		why:        []string{whyMixedLinks, whyIdle},
		tcpflowErr: "an interface has a type 113 different",
		diffs: []fileDiff{
			{"052.057.162.088.00389-192.168.086.104.35313", onlyFlowcap, 1132},
			{"052.057.162.088.00389-192.168.086.104.35313c1", onlyFlowcap, 183},
			{"127.000.000.001.40553-127.000.000.001.00389", onlyFlowcap, 7},
			{"172.031.001.101.00389-172.031.001.104.03116", onlyFlowcap, 191},
			{"192.168.000.003.04066-172.031.001.101.00389", onlyFlowcap, 1352},
			{"192.168.002.131.00389-192.168.002.133.34321", onlyFlowcap, 22},
			{"192.168.002.133.34321-192.168.002.131.00389", onlyFlowcap, 118},
			{"192.168.010.152.38037-192.168.010.186.00389", onlyFlowcap, 200},
			{"192.168.010.186.00389-192.168.010.152.38037", onlyFlowcap, 319},
			{"192.168.086.104.35313-052.057.162.088.00389", onlyFlowcap, 2573},
		},
	},
	"pcapplusplus__many_interfaces-1.pcapng": {
		why:        []string{whyMixedLinks},
		tcpflowErr: "an interface has a type 0 different",
		diffs: []fileDiff{
			{"074.125.228.227.00443-192.168.001.139.50981", onlyFlowcap, 860},
			{"192.168.001.139.50981-074.125.228.227.00443", onlyFlowcap, 1969},
			{"192.168.001.139.50982-074.125.228.227.00443", onlyFlowcap, 216},
		},
	},
	"pcapplusplus__one_tcp_stream_fin_rst_close_packet.pcap": {
		why: []string{whyPadding},
		diffs: []fileDiff{
			{"172.016.000.112.03306-192.168.221.130.43766", trailing, 6},
			{"192.168.221.130.43766-172.016.000.112.03306", trailing, 6},
			{"192.168.221.130.43766-172.016.000.112.03306c1", onlyTcpflow, 6},
		},
	},
	"pcapplusplus__one_tcp_stream_max_seq.pcap": {
		why: []string{whyPadding},
		diffs: []fileDiff{
			{"010.000.000.001.61541-081.218.072.015.00080", changed, 1},
			{"010.000.000.001.61541-081.218.072.015.00080", trailing, 6},
		},
	},
	"pcapplusplus__tcp-reassembly.pcap": {
		why: []string{whyPadding},
		diffs: []fileDiff{
			{"023.021.118.018.00080-172.016.133.054.64370", trailing, 6},
			{"023.021.118.018.00080-172.016.133.054.64370c1", onlyTcpflow, 6},
			{"172.016.133.054.64370-023.021.118.018.00080", trailing, 6},
		},
	},
	"pcapplusplus__unidirectional_tcp_stream_with_missing_packet.pcap": {
		why: []string{whyPadding},
		diffs: []fileDiff{
			{"010.000.000.001.61541-081.218.072.015.00080", trailing, 6},
		},
	},
	"suricata__bug-6875-01__fuzz.pcap": {
		why:        []string{whyBadTCPHeader},
		tcpflowErr: "invalid packet capture length",
		diffs: []fileDiff{
			{"192.168.000.000.00256-000.000.016.064.00000", onlyTcpflow, 154},
		},
	},
	"suricata__dcerpc__dcerpc-dcepayload-18__input.pcap": {
		why:        []string{whyLinkTypes},
		tcpflowErr: "sorry - unknown datalink type 228",
		diffs: []fileDiff{
			{"192.168.001.001.01234-192.168.001.002.00135", onlyFlowcap, 104},
		},
	},
	"suricata__decode-chdlc-01__hdlc-http_1tx.pcap": {
		why:        []string{whyLinkTypes},
		tcpflowErr: "sorry - unknown datalink type 104",
		diffs: []fileDiff{
			{"065.055.116.183.00080-192.168.002.007.04938", onlyFlowcap, 8589},
			{"192.168.002.007.04938-065.055.116.183.00080", onlyFlowcap, 961},
		},
	},
	"suricata__decode-sll2-01__input.pcap": {
		why:        []string{whyLinkTypes},
		tcpflowErr: "sorry - unknown datalink type 276",
		diffs: []fileDiff{
			{"192.168.001.253.56478-192.168.001.021.00080", onlyFlowcap, 82},
		},
	},
	"suricata__defrag__bug-6887-defrag-ppp-ipv6-tcp__frag-ppp-ipv6-tcp.pcap": {
		why: []string{whyIPv6Headers},
		diffs: []fileDiff{
			{"::1.12345-::1.08080", onlyFlowcap, 1000},
		},
	},
	"suricata__firewall__tcp-session-ipv6-decode-malformed__input.pcap": {
		why: []string{whyIPv6Headers},
		diffs: []fileDiff{
			{"2001:db8::10.43210-2001:db8:1::5.00080", onlyFlowcap, 18},
		},
	},
	"suricata__http-mime-truncated__input.pcap": {
		why:        []string{whyCorrupt},
		tcpflowErr: "truncated dump file",
	},
	"suricata__sip-method__sip.pcap": {
		why: []string{whyPadding},
		diffs: []fileDiff{
			{"147.234.001.253.00021-192.168.001.002.02720", trailing, 6},
			{"147.234.001.253.00021-192.168.001.002.02720c1", onlyTcpflow, 6},
			{"147.234.001.253.58999-192.168.001.002.02721", onlyTcpflow, 6},
		},
	},
	"suricata__smb-eicar-overlap__input.pcap": {
		why: []string{whyPadding},
		diffs: []fileDiff{
			{"192.168.001.003.00445-192.168.001.100.48234", trailing, 6},
		},
	},
	"suricata__transform-base64-7296__input.pcap": {
		why: []string{whyIdle},
		diffs: []fileDiff{
			{"127.000.000.001.08080-127.000.000.001.57228", trailing, 179},
			{"127.000.000.001.08080-127.000.000.001.57228c1", onlyFlowcap, 179},
			{"127.000.000.001.57226-127.000.000.001.08080", trailing, 64},
			{"127.000.000.001.57226-127.000.000.001.08080c1", onlyFlowcap, 259},
		},
	},
	"tcpdump__arcnet-rfc1201-arp-icmp-http.pcap": {
		why:        []string{whyUnsupported},
		tcpflowErr: "sorry - unknown datalink type 129",
		flowcapErr: "(129)",
	},
	"tcpdump__beep-oobr.pcap": {
		why:        []string{whyLinkTypes},
		tcpflowErr: "sorry - unknown datalink type 229",
	},
	"tcpdump__bgp-aigp.pcap": {
		why:        []string{whyUnsupported},
		tcpflowErr: "sorry - unknown datalink type 178",
		flowcapErr: "(178)",
	},
	"tcpdump__hoobr_juniper3.pcap": {
		why:        []string{whyUnsupported},
		tcpflowErr: "sorry - unknown datalink type 132",
		flowcapErr: "(132)",
	},
	"tcpdump__ipoib.pcap": {
		why:        []string{whyUnsupported},
		tcpflowErr: "sorry - unknown datalink type 242",
		flowcapErr: "(242)",
	},
	"tcpdump__tfo-5c1fa7f9ae91.pcap": {
		why: []string{whyPadding},
		diffs: []fileDiff{
			{"003.003.003.003.13054-192.168.000.100.13047", onlyTcpflow, 6},
			{"009.009.009.009.13047-003.003.003.003.13054", onlyTcpflow, 6},
			{"009.009.009.009.13047-003.003.003.003.13054c1", onlyTcpflow, 6},
		},
	},
	"tcpflow__local.pcap": {
		why: []string{whyNullIPv6},
		diffs: []fileDiff{
			{"::1.00022-::1.50266", onlyFlowcap, 1677},
			{"::1.00022-::1.50267", onlyFlowcap, 2541},
			{"::1.50266-::1.00022", onlyFlowcap, 1093},
			{"::1.50267-::1.00022", onlyFlowcap, 2629},
		},
	},
	"zeek__chksums__localhost-bad-chksum.pcap": {
		why: []string{whyPadding},
		diffs: []fileDiff{
			{"035.221.046.009.00080-192.168.001.028.53246", trailing, 6},
		},
	},
	"zeek__dns-inverse-query.pcap": {
		why:        []string{whyUnsupported},
		tcpflowErr: "sorry - unknown datalink type 10",
		flowcapErr: "(10)",
	},
	"zeek__http__bro.org.pcap": {
		why: []string{whyPadding},
		diffs: []fileDiff{
			{"192.150.187.043.00080-010.000.002.015.55079", trailing, 6},
			{"192.150.187.043.00080-010.000.002.015.55079c1", onlyTcpflow, 6},
			{"192.150.187.043.00080-010.000.002.015.55080", trailing, 6},
			{"192.150.187.043.00080-010.000.002.015.55080c1", onlyTcpflow, 6},
			{"192.150.187.043.00080-010.000.002.015.55081", trailing, 7},
			{"192.150.187.043.00080-010.000.002.015.55082", trailing, 6},
			{"192.150.187.043.00080-010.000.002.015.55082c1", onlyTcpflow, 6},
			{"192.150.187.043.00080-010.000.002.015.55083", trailing, 6},
			{"192.150.187.043.00080-010.000.002.015.55083c1", onlyTcpflow, 6},
			{"192.150.187.043.00080-010.000.002.015.55085", trailing, 6},
			{"192.150.187.043.00080-010.000.002.015.55085c1", onlyTcpflow, 6},
			{"192.150.187.043.00080-010.000.002.015.55120", trailing, 6},
			{"192.150.187.043.00080-010.000.002.015.55120c1", onlyTcpflow, 6},
			{"192.150.187.043.00080-010.000.002.015.55128", onlyTcpflow, 6},
			{"192.150.187.043.00080-010.000.002.015.55129", onlyTcpflow, 6},
			{"192.150.187.043.00080-010.000.002.015.55130", onlyTcpflow, 6},
			{"192.150.187.043.00080-010.000.002.015.55131", onlyTcpflow, 6},
			{"192.150.187.043.00080-010.000.002.015.55132", onlyTcpflow, 6},
		},
	},
	"zeek__http__get-to-ssh-server.pcap": {
		why: []string{whyPadding},
		diffs: []fileDiff{
			{"130.074.164.231.00022-136.216.042.040.44338c1", onlyTcpflow, 6},
		},
	},
	"zeek__ldap__ldap_search_umlaut.pcap": {
		why:        []string{whyLinkTypes},
		tcpflowErr: "sorry - unknown datalink type 228",
		diffs: []fileDiff{
			{"192.168.001.100.54321-192.168.001.010.00389", onlyFlowcap, 57},
		},
	},
	"zeek__modbus__fuzz-72.pcap": {
		why: []string{whySeqJump},
		diffs: []fileDiff{
			{"192.168.066.235.02582-166.161.016.230.00502", tcpflowSize, 4294967284},
			{"192.168.066.235.02582-166.161.016.230.00502c1", onlyFlowcap, 12},
			{"192.168.066.235.02582-166.161.016.230.00502c2", onlyFlowcap, 72},
		},
	},
	"zeek__nflog-http.pcap": {
		why:        []string{whyUnsupported},
		tcpflowErr: "sorry - unknown datalink type 239",
		flowcapErr: "(239)",
	},
	"zeek__nfs__nfs_fsinfo_bad_status.pcap": {
		why: []string{whyPadding},
		diffs: []fileDiff{
			{"010.111.131.132.02049-010.111.131.018.00720", trailing, 6},
			{"010.111.131.132.02049-010.111.131.018.55647", trailing, 6},
		},
	},
	"zeek__rdp__rdp-x509.pcap": {
		why: []string{whyPadding},
		diffs: []fileDiff{
			{"192.168.001.002.03389-192.168.001.001.54990", trailing, 6},
		},
	},
	"zeek__tls__openjdk-25.0.2-zeek.org.pcap": {
		why:        []string{whyLinkTypes},
		tcpflowErr: "sorry - unknown datalink type 276",
		diffs: []fileDiff{
			{"192.000.078.150.00443-192.168.064.006.55058", onlyFlowcap, 2920},
			{"192.168.064.006.55058-192.000.078.150.00443", onlyFlowcap, 457},
		},
	},
	"zeek__tls__xmpp-starttls.pcap": {
		why: []string{whyPadding},
		diffs: []fileDiff{
			{"146.255.057.229.05222-198.128.203.095.56048c1", onlyTcpflow, 6},
		},
	},
}

// maxCompare bounds the files read into memory: a larger one is compared by
// size (tcpflow writes a 4 GiB sparse file for zeek__modbus__fuzz-72).
const maxCompare = 64 << 20

type outFile struct {
	size int64
	data []byte // nil when size > maxCompare
}

// readOutput reads the flow files of an output directory, report.xml
// aside; a directory that does not exist has none.
func readOutput(t *testing.T, dir string) map[string]outFile {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]outFile{}
	for _, e := range ents {
		if e.Name() == "report.xml" || e.Name() == "flows.jsonl" {
			continue
		}
		path := filepath.Join(dir, e.Name())
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		f := outFile{size: fi.Size()}
		if f.size <= maxCompare {
			if f.data, err = os.ReadFile(path); err != nil {
				t.Fatal(err)
			}
		}
		files[e.Name()] = f
	}
	return files
}

// compareOutputs lists how flowcap's files differ from tcpflow's.
func compareOutputs(tcpflow, flowcap map[string]outFile) []fileDiff {
	var diffs []fileDiff
	for name, tf := range tcpflow {
		fc, ok := flowcap[name]
		switch {
		case !ok:
			diffs = append(diffs, fileDiff{name, onlyTcpflow, tf.size})
		case tf.data == nil || fc.data == nil:
			if tf.size != fc.size {
				diffs = append(diffs, fileDiff{name, tcpflowSize, tf.size})
			}
		default:
			var n int64
			for i := range min(len(tf.data), len(fc.data)) {
				if tf.data[i] != fc.data[i] {
					n++
				}
			}
			if n > 0 {
				diffs = append(diffs, fileDiff{name, changed, n})
			}
			if d := tf.size - fc.size; d > 0 {
				diffs = append(diffs, fileDiff{name, trailing, d})
			} else if d < 0 {
				diffs = append(diffs, fileDiff{name, truncated, -d})
			}
		}
	}
	for name, fc := range flowcap {
		if _, ok := tcpflow[name]; !ok {
			diffs = append(diffs, fileDiff{name, onlyFlowcap, fc.size})
		}
	}
	sortDiffs(diffs)
	return diffs
}

func sortDiffs(diffs []fileDiff) {
	slices.SortFunc(diffs, func(a, b fileDiff) int {
		if c := strings.Compare(a.file, b.file); c != 0 {
			return c
		}
		return int(a.kind) - int(b.kind)
	})
}

// lookTcpflow fails the test when tcpflow is not installed.
func lookTcpflow(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("tcpflow")
	if err != nil {
		t.Fatal("tcpflow is not installed: run `make deps` (installs tcpflow 1.6.1, tcpdump, tshark)")
	}
	return p
}

// runTcpflow runs tcpflow -r capture -o DIR and returns DIR, its stderr
// and exit status.
func runTcpflow(t *testing.T, capture string) (dir, stderr string, code int) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "tcpflow")
	var errb bytes.Buffer
	cmd := exec.Command(lookTcpflow(t), "-r", capture, "-o", dir)
	cmd.Stderr = &errb
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("tcpflow: %v", err)
	}
	return dir, errb.String(), code
}

// flowcapMu serializes calls of run: the cli package has globals.
var flowcapMu sync.Mutex

// runFlowcap runs `flowcap read -o DIR inputs...` in process.
func runFlowcap(t *testing.T, inputs ...string) (dir, stdout, stderr string, code int) {
	t.Helper()
	dir = filepath.Join(t.TempDir(), "flowcap")
	var out, errb bytes.Buffer
	flowcapMu.Lock()
	code = run(context.Background(), append([]string{"flowcap", "read", "-o", dir}, inputs...), &out, &errb)
	flowcapMu.Unlock()
	return dir, out.String(), errb.String(), code
}

// testCaptures lists the captures in testdata/capture.
func testCaptures(t *testing.T) []string {
	t.Helper()
	ents, err := os.ReadDir(filepath.Join("testdata", "capture"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		if n := e.Name(); n != "README.md" && n != "SHA256SUMS" && !e.IsDir() {
			names = append(names, n)
		}
	}
	return names
}

func TestTcpflowOracle(t *testing.T) {
	lookTcpflow(t)
	captures := testCaptures(t)
	for name := range deliberateDifferences {
		if !slices.Contains(captures, name) {
			t.Errorf("deliberateDifferences lists %s, not in testdata/capture", name)
		}
	}
	for _, name := range captures {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join("testdata", "capture", name)
			want := deliberateDifferences[name]
			tfDir, tfErr, tfCode := runTcpflow(t, path)
			fcDir, _, fcErr, _ := runFlowcap(t, path)

			if want.tcpflowErr == "" && tfCode != 0 {
				t.Errorf("tcpflow exits %d: %s", tfCode, tfErr)
			}
			if want.tcpflowErr != "" && (tfCode == 0 || !strings.Contains(tfErr, want.tcpflowErr)) {
				t.Errorf("tcpflow exits %d, want non-zero saying %q: %s", tfCode, want.tcpflowErr, tfErr)
			}
			if want.flowcapErr != "" {
				var n int
				for _, line := range strings.Split(fcErr, "\n") {
					if strings.Contains(line, want.flowcapErr) {
						n++
					}
				}
				if n != 1 {
					t.Errorf("flowcap says %q on %d lines, want 1:\n%s", want.flowcapErr, n, fcErr)
				}
			}
			got := compareOutputs(readOutput(t, tfDir), readOutput(t, fcDir))
			wantDiffs := slices.Clone(want.diffs)
			sortDiffs(wantDiffs)
			if !slices.Equal(got, wantDiffs) {
				t.Errorf("flowcap differs from tcpflow in other ways than listed (%s)", or(strings.Join(want.why, "; "), "none listed"))
				reportDiffs(t, got, wantDiffs)
			}
		})
	}
}

// reportDiffs names the differences that happened but are not listed, and
// those listed that did not happen.
func reportDiffs(t *testing.T, got, want []fileDiff) {
	t.Helper()
	for _, d := range got {
		if !slices.Contains(want, d) {
			t.Errorf("  unexpected: %v", d)
		}
	}
	for _, d := range want {
		if !slices.Contains(got, d) {
			t.Errorf("  missing:    %v", d)
		}
	}
}

func or(s, def string) string {
	if s != "" {
		return s
	}
	return def
}
