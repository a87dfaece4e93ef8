package main

import (
	"context"
	"fmt"
	"io"
)

// run is the whole program but for the process: it parses args, runs the
// command and maps what went wrong to an exit status, in one place.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fmt.Fprintln(stderr, "flowcap: not built yet")
	return 1
}
