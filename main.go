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
	ctx, stop := signalContext(context.Background())
	defer stop()
	os.Exit(run(ctx, os.Args, os.Stdout, os.Stderr))
}

// interrupted is the cancellation cause when a signal stops the run.
type interrupted struct{ sig syscall.Signal }

func (i interrupted) Error() string { return "interrupted by " + i.sig.String() }

// exitCode is what a shell expects after a signal: 128 + its number.
func (i interrupted) exitCode() int { return 128 + int(i.sig) }

// signalContext is cancelled, with an interrupted cause, by the first SIGINT
// or SIGTERM, so that flowcap can flush its files; a second one exits at once.
func signalContext(parent context.Context) (context.Context, func()) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		sig, ok := <-ch
		if !ok {
			return
		}
		cancel(interrupted{sig.(syscall.Signal)})
		if sig, ok = <-ch; ok {
			os.Exit(interrupted{sig.(syscall.Signal)}.exitCode())
		}
	}()
	return ctx, func() { signal.Stop(ch); close(ch); cancel(nil) }
}
