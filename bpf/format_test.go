package bpf

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// formatCases are programs whose tcpdump -d/-dd/-ddd listings are kept in
// testdata/bpf/format.txt: together they use every opcode tcpdump prints,
// negative and large operands, long programs and far jumps.
var formatCases = []struct{ lt, flags, expr string }{
	{"EN10MB", "", "tcp port 80"},
	{"EN10MB", "-O", "tcp port 80"},
	{"EN10MB", "-O", "tcp[((tcp[12]&0xf0)>>2):4] = 0x47455420"},
	{"EN10MB", "-O", "ip[2:2] - ((ip[0]&0xf)<<2) - ((tcp[12]&0xf0)>>2) != 0"},
	{"EN10MB", "-O", "ip[0] * 3 / 2 % 5 ^ 7 | 1 & 0xff = len"},
	{"EN10MB", "-O", "-ip[0] = 0xffffffbb"},
	{"EN10MB", "-O", "ip[0] + 0xffffffff = 4"},
	{"EN10MB", "-O", "ip[0] - 1 > 2 and len >= 100 and ip[1] < 3 and ip[2] <= 4"},
	{"EN10MB", "-O", "ether[0] & 1 != 0 or tcp[13] & 2 != 0"},
	{"EN10MB", "", "vlan 100 and ip6 host 2001:db8::1"},
	{"EN10MB", "", "host 10.0.0.1 or 10.0.0.2 or 10.0.0.3 or 10.0.0.4 or 10.0.0.5 or 10.0.0.6 or 10.0.0.7 or 10.0.0.8"},
	{"EN10MB", "", "port 1 or port 2 or port 3 or port 4 or port 5 or port 6 or port 7 or port 8 or port 9 or port 10 or port 11 or port 12 or port 13 or port 14 or port 15 or port 16 or port 17 or port 18 or port 19 or port 20"},
	{"LINUX_SLL2", "", "inbound and ifindex 3"},
	{"NULL", "", "ip6"},
	{"RAW", "", "ip multicast"},
	{"EN10MB", "-O", "ether proto \\ipx"},
}

const formatFile = "../testdata/bpf/format.txt"

func TestFormatMatchesTcpdump(t *testing.T) {
	if *update {
		needTcpdump(t)
		dir := t.TempDir()
		var b strings.Builder
		b.WriteString("# tcpdump -d, -dd and -ddd of the same programs (bpf/format_test.go).\n# Regenerate: go test ./bpf -run Format -update\n")
		for _, c := range formatCases {
			lt, _ := LinkTypeByName(c.lt)
			file := emptyCapture(t, dir, lt)
			b.WriteString("\n## " + c.lt + " " + c.flags + " " + c.expr + "\n")
			for _, d := range []string{"-d", "-dd", "-ddd"} {
				args := []string{d, "-r", file}
				if c.flags != "" {
					args = append(args, c.flags)
				}
				out, err := runTcpdump(append(args, "--", c.expr)...)
				if err != nil {
					t.Fatalf("tcpdump %v %q: %v", args, c.expr, err)
				}
				b.WriteString("-- " + d + "\n" + out)
			}
		}
		if err := os.WriteFile(formatFile, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	data, err := os.ReadFile(formatFile)
	if err != nil {
		t.Fatal(err)
	}
	recs := strings.Split(string(data), "\n## ")[1:]
	if len(recs) != len(formatCases) {
		t.Fatalf("%s has %d records, want %d (regenerate with -update)", formatFile, len(recs), len(formatCases))
	}
	for _, rec := range recs {
		title, body, _ := strings.Cut(rec, "\n")
		parts := strings.Split(body, "-- ")[1:]
		got := map[string]string{}
		for _, p := range parts {
			name, text, _ := strings.Cut(p, "\n")
			got[name] = text
		}
		raw, err := parseDDD(got["-ddd"])
		if err != nil {
			t.Fatalf("%s: %v", title, err)
		}
		for style, name := range map[Style]string{Listing: "-d", CArray: "-dd", Decimal: "-ddd"} {
			if out := FormatRaw(raw, style); out != got[name] {
				t.Errorf("%s: tcpdump %s:\n%s\nFormatRaw:\n%s", title, name, got[name], out)
			}
		}
	}
}

// Golden -ddd listings of flowcap's own programs, to see in review what a
// change to the compiler does to the code.
// Names starting "live-" are compiled with Options.Live.
var goldenCases = []struct{ name, lt, expr string }{
	{"tcp-port-80", "EN10MB", "tcp port 80"},
	{"port-80-or-443", "EN10MB", "port 80 or 443"},
	{"host-and-port", "EN10MB", "tcp port 80 and host 10.0.0.1"},
	{"syn", "EN10MB", "tcp[tcpflags] & tcp-syn != 0"},
	{"http-get", "EN10MB", "tcp[((tcp[12]&0xf0)>>2):4] = 0x47455420"},
	{"vlan-host", "EN10MB", "vlan 100 and host 2001:db8::1"},
	{"net-mask", "LINUX_SLL", "net 10.0.0.0 mask 255.0.0.0 and not port 22"},
	{"sll2-inbound", "LINUX_SLL2", "inbound and udp port domain"},
	{"raw-icmp", "RAW", "icmp or icmp6"},
	{"null-ip6", "NULL", "ip6 and tcp"},
	{"ports-list", "EN10MB", "(port 80 or port 443 or portrange 8000-8080)"},
	{"long-jumps", "EN10MB", longExpr(40)},
	{"live-vlan-port", "EN10MB", "vlan 100 and tcp port 80"},
	{"live-qinq-http-get", "EN10MB", "vlan and vlan 20 and tcp[((tcp[12]&0xf0)>>2):4] = 0x47455420"},
	{"live-inbound", "EN10MB", "inbound and not ifindex 1 and ip6"},
	{"live-any", "LINUX_SLL2", "tcp port 80 and inbound and ifindex 2"},
	{"live-any-sll", "LINUX_SLL", "outbound and link[14:2] = 0x86dd and udp"},
}

// longExpr ors n host tests: a program long enough to need far jumps.
func longExpr(n int) string {
	var s []string
	for i := 0; i < n; i++ {
		s = append(s, "(host 10.0.0."+strconv.Itoa(i)+" and port "+strconv.Itoa(1000+i)+")")
	}
	return strings.Join(s, " or ")
}

func TestGoldenPrograms(t *testing.T) {
	dir := "../testdata/bpf/golden"
	for _, c := range goldenCases {
		lt, err := LinkTypeByName(c.lt)
		if err != nil {
			t.Fatal(err)
		}
		live := strings.HasPrefix(c.name, "live-")
		p, err := Compile(c.expr, lt, Options{Live: live})
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		title := c.lt
		if live {
			title = "live " + c.lt
		}
		got := "# " + title + ": " + c.expr + "\n" + Format(p, Listing) + Format(p, Decimal)
		path := filepath.Join(dir, c.name+".txt")
		if *update {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (regenerate with -update)", err)
		}
		if got != string(want) {
			t.Errorf("%s: program changed (regenerate with -update if intended):\n%s", c.name, got)
		}
	}
}
