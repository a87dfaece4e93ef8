package main

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
)

// TestShardsSameOutput: the output directory does not depend on how many
// shards reassemble (both directions of a connection meet in one shard, and
// file names are decided per connection). Every testdata capture, 1 and 4
// shards, names and bytes.
func TestShardsSameOutput(t *testing.T) {
	for _, name := range testCaptures(t) {
		t.Run(name, func(t *testing.T) {
			in := filepath.Join("testdata", "capture", name)
			var outs [2]map[string]outFile
			for i, shards := range []string{"1", "4"} {
				dir := filepath.Join(t.TempDir(), "out")
				var stdout, stderr bytes.Buffer
				flowcapMu.Lock()
				run(context.Background(), []string{"flowcap", "read", "-q", "--shards", shards, "-o", dir, in}, &stdout, &stderr)
				flowcapMu.Unlock()
				outs[i] = readOutput(t, dir)
			}
			if diffs := compareOutputs(outs[0], outs[1]); len(diffs) > 0 {
				t.Errorf("--shards 1 and --shards 4 differ: %v", diffs)
			}
		})
	}
}
