package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestPermuteArgs(t *testing.T) {
	app := newApp(&bytes.Buffer{}, &bytes.Buffer{})
	tests := []struct{ in, want string }{
		{"flowcap read -o out trace.pcap -q", "flowcap read -o out -q -- trace.pcap"},
		{"flowcap read trace.pcap -b 5 other.pcap", "flowcap read -b 5 -- trace.pcap other.pcap"},
		{"flowcap read -o=out - ", "flowcap read -o=out -- -"},
		{"flowcap -r trace.pcap -o out port 443", "flowcap -r trace.pcap -o out -- port 443"},
		{"flowcap -r a.pcap -r b.pcap", "flowcap -r a.pcap -r b.pcap"},
		{"flowcap read -- -weird-name.pcap -q", "flowcap read -- -weird-name.pcap -q"},
		{"flowcap -q read x.pcap -v", "flowcap -q read -v -- x.pcap"},
		{"flowcap capture -i eth0 -o /var/flows tcp port 80", "flowcap capture -i eth0 -o /var/flows -- tcp port 80"},
		{"flowcap capture -i any -o /flows -R 10", "flowcap capture -i any -o /flows -R 10"},
		{"flowcap -i eth0 -o out port 443", "flowcap -i eth0 -o out -- port 443"},
		{"flowcap capture -i eth0 -p --count 1000 -w raw.pcap", "flowcap capture -i eth0 -p --count 1000 -w raw.pcap"},
		{"flowcap capture port 80 -U nobody -B 64", "flowcap capture -U nobody -B 64 -- port 80"},
	}
	for _, tt := range tests {
		got := strings.Join(permuteArgs(app, strings.Fields(tt.in)), " ")
		if got != tt.want {
			t.Errorf("permuteArgs(%q)\n got %q\nwant %q", tt.in, got, tt.want)
		}
	}
}

func TestUsageErrorsAreOneLine(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"flowcap", "read", "--bogus", "x.pcap"}, "flowcap: flag provided but not defined: -bogus (see flowcap --help)\n"},
		{[]string{"flowcap", "read"}, "flowcap: read: no input file (use - for stdin)\n"},
		{[]string{"flowcap", "read", "-b", "-3", "x.pcap"}, "flowcap: -b -3: must be 0 or more\n"},
		{[]string{"flowcap", "read", "--shards", "0", "x.pcap"}, "flowcap: --shards 0: must be between 1 and 1024\n"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), tt.args, &stdout, &stderr)
		if code != 1 || stderr.String() != tt.want || stdout.Len() != 0 {
			t.Errorf("%v: exit %d, stderr %q, stdout %q; want exit 1, stderr %q", tt.args, code, stderr.String(), stdout.String(), tt.want)
		}
	}
}

func TestVersionExitsZero(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run(context.Background(), []string{"flowcap", "-V"}, &stdout, &stderr); code != 0 {
		t.Fatalf("flowcap -V: exit %d, stderr %q", code, stderr.String())
	}
	if !strings.HasPrefix(stdout.String(), "flowcap version ") {
		t.Errorf("flowcap -V printed %q", stdout.String())
	}
}
