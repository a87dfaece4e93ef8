package main

import (
	"bytes"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

func TestGencap(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		args  []string
		files int
	}{
		{[]string{"-workload", "interleaved", "-conns", "50", "-size", "2MiB"}, 100},
		{[]string{"-workload", "short", "-conns", "300", "-6"}, 600},
		{[]string{"-workload", "gro", "-size", "1MB", "-ns"}, 8},
	}
	for i, tt := range tests {
		out := filepath.Join(dir, fmt.Sprintf("c%d.pcapng.gz", i))
		var stdout, stderr bytes.Buffer
		if code := run(append(tt.args, "-o", out), &stdout, &stderr); code != 0 {
			t.Fatalf("gencap %v: exit %d: %s", tt.args, code, stderr.String())
		}
		if want := fmt.Sprintf(" %d expected flow files (pcapng-le-", tt.files); !strings.Contains(stdout.String(), want) {
			t.Errorf("gencap %v: %q, want %q", tt.args, stdout.String(), want)
		}
	}
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-workload", "nope", "-o", filepath.Join(dir, "x")}, &stdout, &stderr); code != 2 || !strings.Contains(stderr.String(), "unknown workload") {
		t.Errorf("unknown workload: exit %d, %q", code, stderr.String())
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"1GiB": 1 << 30, "512MiB": 512 << 20, "64KiB": 64 << 10, "5GB": 5e9, "100MB": 1e8, "10kB": 1e4, "12345": 12345, "1.5KiB": 1536} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	if _, err := parseSize("lots"); err == nil {
		t.Error("parseSize(lots) succeeded")
	}
}
