// Command flowcap records TCP connections as data: it reassembles every TCP
// connection in a capture (a pcap/pcapng file or a live interface) and writes
// each direction to its own file, named as tcpflow names them.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args, os.Stdout, os.Stderr))
}
