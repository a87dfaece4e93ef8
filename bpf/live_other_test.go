//go:build !linux

package bpf

import "testing"

func updateLiveOracles(t *testing.T, _ []exprCase) {
	t.Fatal("-update of the live oracles runs tcpdump on live Linux interfaces: run it on Linux, as root")
}
