package flowfile

import (
	"strings"
	"sync/atomic"
	"testing"

	"github.com/flowcap/flowcap/reassembly"
)

// MaxDisk: files stop growing at the quota, no file is created past it,
// the bytes left out are counted per stream and in all, OnQuota is called
// once, and rewriting bytes a file already holds still works.
func TestMaxDisk(t *testing.T) {
	hs := []pkt{{c2s, syn, 100, ""}, {s2c, sa, 500, ""}}
	tests := []struct {
		name        string
		cfg         Config
		pkts        []pkt
		want        map[string]string
		skipped     uint64
		cut         uint64
		quotaCalled bool
	}{
		{
			name: "under the quota: nothing changes",
			cfg:  Config{MaxDisk: 100},
			pkts: append(hs, pkt{c2s, pa, 101, "hello"}, pkt{s2c, pa, 501, "world"}),
			want: map[string]string{cliName: "hello", srvName: "world"},
		},
		{
			name: "exactly the quota",
			cfg:  Config{MaxDisk: 10},
			pkts: append(hs, pkt{c2s, pa, 101, "hello"}, pkt{s2c, pa, 501, "world"}),
			want: map[string]string{cliName: "hello", srvName: "world"},
		},
		{
			name:        "the file reaching it is cut, later flows get no file",
			cfg:         Config{MaxDisk: 8},
			pkts:        append(hs, pkt{c2s, pa, 101, "0123"}, pkt{c2s, pa, 105, "456789"}, pkt{s2c, pa, 501, "late"}, pkt{c2s, pa, 111, "more"}),
			want:        map[string]string{cliName: "01234567"},
			skipped:     2 + 4 + 4,
			cut:         2,
			quotaCalled: true,
		},
		{
			name:        "a hole is counted, but never granted without data after it",
			cfg:         Config{MaxDisk: 8},
			pkts:        append(hs, pkt{c2s, pa, 101, "ab"}, pkt{c2s, pa, 111, "far"}, pkt{c2s, pa, 104, "d"}),
			want:        map[string]string{cliName: "ab\x00d"},
			skipped:     3,
			cut:         1,
			quotaCalled: true,
		},
		{
			name:        "retransmitted bytes within the file are still written",
			cfg:         Config{MaxDisk: 4},
			pkts:        append(hs, pkt{c2s, pa, 101, "abcdef"}, pkt{c2s, pa, 102, "XY"}),
			want:        map[string]string{cliName: "aXYd"},
			skipped:     2,
			cut:         1,
			quotaCalled: true,
		},
		{
			name:        "a move to insert earlier data that does not fit freezes the file",
			cfg:         Config{MaxDisk: 8},
			pkts:        []pkt{{c2s, pa, 1005, "MIDDLE"}, {c2s, pa, 1001, "EARL"}, {c2s, pa, 1011, "LATER"}},
			want:        map[string]string{cliName: "MIDDLE"},
			skipped:     4 + 5,
			cut:         1,
			quotaCalled: true,
		},
		{
			name: "a move that fits",
			cfg:  Config{MaxDisk: 10},
			pkts: []pkt{{c2s, pa, 1005, "MIDDLE"}, {c2s, pa, 1001, "EARL"}},
			want: map[string]string{cliName: "EARLMIDDLE"},
		},
		{
			name:        "buffers written straight to the file",
			cfg:         Config{MaxDisk: 5000, BufferSize: 4096, MaxBuffer: 1},
			pkts:        append(hs, pkt{c2s, pa, 101, strings.Repeat("x", 3000)}, pkt{s2c, pa, 501, strings.Repeat("y", 4500)}),
			want:        map[string]string{cliName: strings.Repeat("x", 3000), srvName: strings.Repeat("y", 2000)},
			skipped:     2500,
			cut:         1,
			quotaCalled: true,
		},
		{
			name: "-b counts what is kept",
			cfg:  Config{MaxDisk: 6, MaxBytes: 3},
			pkts: append(hs, pkt{c2s, pa, 101, "abcdef"}, pkt{s2c, pa, 501, "ghijkl"}),
			want: map[string]string{cliName: "abc", srvName: "ghi"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := tt.cfg
			cfg.Dir = dir
			var calls atomic.Int32
			cfg.OnQuota = func() { calls.Add(1) }
			perStream := map[string]int64{}
			cfg.OnClose = func(st *reassembly.Stream, name string, size int64) {
				perStream[flowName(st)] += Skipped(st)
			}
			w, _ := feed(t, cfg, reassembly.Config{}, reassembly.NoVLAN, tt.pkts)
			if got, want := dump(readDir(t, dir)), dump(tt.want); got != want {
				t.Errorf("files:\n%s\nwant:\n%s", got, want)
			}
			st := w.Stats()
			if st.Skipped != tt.skipped || st.Cut != tt.cut {
				t.Errorf("skipped %d bytes of %d streams, want %d of %d", st.Skipped, st.Cut, tt.skipped, tt.cut)
			}
			var sum int64
			for _, n := range perStream {
				sum += n
			}
			if uint64(sum) != st.Skipped {
				t.Errorf("Skipped per stream adds up to %d, Stats.Skipped %d", sum, st.Skipped)
			}
			if want := map[bool]int32{false: 0, true: 1}[tt.quotaCalled]; calls.Load() != want {
				t.Errorf("OnQuota called %d times, want %d", calls.Load(), want)
			}
		})
	}
}

func flowName(st *reassembly.Stream) string { return Name(st.Key, st.VLAN, 0) }
