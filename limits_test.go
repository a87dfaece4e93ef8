package main

import (
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/flowcap/flowcap/reassembly"
)

func TestParseBytes(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true},
		{"16777216", 16 << 20, true},
		{"16M", 16 << 20, true},
		{"16m", 16 << 20, true},
		{"16MiB", 16 << 20, true},
		{"16MB", 16 << 20, true},
		{"100K", 100 << 10, true},
		{"2G", 2 << 30, true},
		{"1T", 1 << 40, true},
		{" 7 ", 7, true},
		{"12B", 12, true},
		{"1 GiB", 1 << 30, true},
		{"", 0, false},
		{"-1", 0, false},
		{"1.5G", 0, false},
		{"12iB", 0, false},
		{"M", 0, false},
		{"lots", 0, false},
		{"99999999999T", 0, false}, // overflows
		{"9223372036854775807", 0, false},
	}
	for _, tt := range tests {
		got, err := parseBytes(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseBytes(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// The flow table and the closed connections remembered are limits over
// all shards: each shard gets its share, so that memory does not grow
// with --shards.
func TestLimitsSplitOverShards(t *testing.T) {
	for _, shards := range []int{1, 2, 3, 4, 16} {
		cfg := &config{shards: shards}
		app := &cli.App{Flags: limitFlags(), Action: func(c *cli.Context) error { return limits(c, cfg) }}
		if err := app.Run([]string{"flowcap", "--max-flows", "1000"}); err != nil {
			t.Fatalf("%d shards: %v", shards, err)
		}
		r := cfg.reassembly
		if r.MaxFlows*shards < 1000 || (r.MaxFlows-1)*shards >= 1000 {
			t.Errorf("%d shards: MaxFlows %d per shard, want the least that makes 1000 in all", shards, r.MaxFlows)
		}
		if want := reassembly.DefaultMaxLinger; r.MaxLinger*shards < want || (r.MaxLinger-1)*shards >= want {
			t.Errorf("%d shards: MaxLinger %d per shard, want the least that makes %d in all", shards, r.MaxLinger, want)
		}
	}
}
