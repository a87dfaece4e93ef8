package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"
)

// runFilter runs "flowcap filter args..." in a small app of its own.
func runFilter(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errOut bytes.Buffer
	app := &cli.App{
		Name:                   "flowcap",
		Writer:                 &out,
		ErrWriter:              &errOut,
		Commands:               []*cli.Command{filterCommand()},
		UseShortOptionHandling: true,
		ExitErrHandler:         func(*cli.Context, error) {},
	}
	err = app.RunContext(context.Background(), append([]string{"flowcap", "filter"}, args...))
	return out.String(), errOut.String(), err
}

// tcpdumpOutputs returns what tcpdump 4.99.3 printed for "tcp port 80"
// on EN10MB with -d, -dd and -ddd (kept in testdata/bpf/format.txt).
func tcpdumpOutputs(t *testing.T) map[string]string {
	data, err := os.ReadFile("testdata/bpf/format.txt")
	if err != nil {
		t.Fatal(err)
	}
	rec := strings.Split(string(data), "\n## ")[1]
	title, body, _ := strings.Cut(rec, "\n")
	if title != "EN10MB  tcp port 80" {
		t.Fatalf("first record of format.txt is %q", title)
	}
	out := map[string]string{}
	for _, p := range strings.Split(body, "-- ")[1:] {
		name, text, _ := strings.Cut(p, "\n")
		out[name] = text
	}
	return out
}

func TestFilterCommandMatchesTcpdump(t *testing.T) {
	want := tcpdumpOutputs(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"tcp port 80"}, want["-d"]},
		{[]string{"-d", "tcp", "port", "80"}, want["-d"]}, // words join, as tcpdump's
		{[]string{"-y", "EN10MB", "-dd", "tcp port 80"}, want["-dd"]},
		{[]string{"-ddd", "-y", "en10mb", "--", "tcp port 80"}, want["-ddd"]},
		{[]string{"-y", "1", "-ddd", "-s", "262144", "tcp port 80"}, want["-ddd"]},
	} {
		stdout, stderr, err := runFilter(t, c.args...)
		if err != nil || stderr != "" {
			t.Errorf("%q: %v, stderr %q", c.args, err, stderr)
			continue
		}
		if stdout != c.want {
			t.Errorf("%q printed\n%s\nwant (tcpdump)\n%s", c.args, stdout, c.want)
		}
	}
}

func TestFilterCommandOptions(t *testing.T) {
	stdout, _, err := runFilter(t, "-y", "RAW", "-s", "96", "-ddd", "ip6 and udp")
	if err != nil {
		t.Fatal(err)
	}
	want := "10\n48 0 0 0\n84 0 0 240\n21 0 6 96\n48 0 0 6\n21 3 0 17\n21 0 3 44\n48 0 0 40\n21 0 1 17\n6 0 0 96\n6 0 0 0\n"
	if stdout != want {
		t.Errorf("got\n%s\nwant\n%s", stdout, want)
	}
	stdout, stderr, err := runFilter(t, "-y", "IPV4", "arp")
	if err != nil || stdout != "(000) ret      #0\n" || !strings.Contains(stderr, "rejects all packets") {
		t.Errorf("arp on IPV4: %v, stdout %q, stderr %q", err, stdout, stderr)
	}
}

func TestFilterCommandErrors(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"tcp port and host 10.0.0.1"}, "filter: expected a port number or name after 'port', found 'and'\n" +
			"    tcp port and host 10.0.0.1\n" +
			"             ^"},
		{[]string{"gateway snup"}, "'gateway' is not supported"},
		{[]string{"-y", "LINUX_SLL", "vlan 10"}, "no VLAN support for LINUX_SLL"},
		{[]string{"-y", "IEEE802_11", "tcp"}, "filter -y: link type \"IEEE802_11\": unsupported link type"},
		{[]string{}, "filter: no expression"},
		{[]string{"-s", "0", "tcp"}, "filter -s 0: must be between 1"},
	} {
		stdout, _, err := runFilter(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: error %v, want %q", c.args, err, c.want)
		}
		if stdout != "" {
			t.Errorf("%q: wrote %q on an error", c.args, stdout)
		}
	}
}

// -i IF prints the program flowcap capture -i IF gives the kernel: for
// any, the cooked socket's (LINUX_SLL2 live); for a loopback, Ethernet's.
// --live -y LINKTYPE prints it without an interface.
func TestFilterCommandLive(t *testing.T) {
	lo := ""
	ifs, _ := net.Interfaces()
	for _, ifi := range ifs {
		if ifi.Flags&net.FlagLoopback != 0 {
			lo = ifi.Name
		}
	}
	if lo == "" {
		t.Fatal("no loopback interface")
	}
	for _, c := range [][2][]string{
		{{"-i", "any", "-ddd", "inbound and tcp port 80"}, {"--live", "-y", "LINUX_SLL2", "-ddd", "inbound and tcp port 80"}},
		{{"-i", lo, "vlan 100 and tcp port 80"}, {"--live", "vlan 100 and tcp port 80"}},
	} {
		a, _, err1 := runFilter(t, c[0]...)
		b, _, err2 := runFilter(t, c[1]...)
		if err1 != nil || err2 != nil || a != b {
			t.Errorf("%q: %v\n%s\n%q: %v\n%s", c[0], err1, a, c[1], err2, b)
		}
	}
	golden, err := os.ReadFile("testdata/bpf/golden/live-vlan-port.txt")
	if err != nil {
		t.Fatal(err)
	}
	stdout, _, err := runFilter(t, "--live", "-y", "EN10MB", "vlan 100 and tcp port 80")
	if err != nil || !strings.Contains(string(golden), stdout) || !strings.Contains(stdout, "ldb      [vlanp]") {
		t.Errorf("--live: %v\n%s\nwant the listing of testdata/bpf/golden/live-vlan-port.txt", err, stdout)
	}
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-i", "any", "-y", "EN10MB", "tcp"}, "give -i (the interface's link type) or -y, not both"},
		{[]string{"-i", "no-such-interface0", "tcp"}, "interface no-such-interface0: no such interface"},
		{[]string{"-i", "any", "ether[2] = 1"}, "cannot be filtered in the kernel on a cooked socket (any)"},
		{[]string{"--live", "-y", "RAW", "vlan"}, "no VLAN support for RAW"},
	} {
		stdout, _, err := runFilter(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) || stdout != "" {
			t.Errorf("%q: error %v, stdout %q, want %q", c.args, err, stdout, c.want)
		}
	}
}
