package flowfile

import (
	"errors"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
)

// runner runs programs on closed flow files (flowcap -e PROGRAM): each
// program with the file's path as its last argument, at most max at once.
// Files wait in a queue; when it is full, whoever queues waits, so that a
// slow program slows the capture rather than piling up work.
type runner struct {
	progs       [][]string
	jobs        chan string
	wg          sync.WaitGroup
	stdout      io.Writer
	stderr      io.Writer
	ran, failed atomic.Uint64
}

func newRunner(progs [][]string, max int, stdout, stderr io.Writer) *runner {
	r := &runner{progs: progs, jobs: make(chan string, 1024), stdout: stdout, stderr: stderr}
	for range max {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			for path := range r.jobs {
				for _, p := range r.progs {
					r.run(p, path)
				}
			}
		}()
	}
	return r
}

func (r *runner) queue(path string) { r.jobs <- path }

// run runs one program on one file; a failure is one line on stderr.
func (r *runner) run(prog []string, path string) {
	cmd := exec.Command(prog[0], append(prog[1:len(prog):len(prog)], path)...)
	cmd.Stdout, cmd.Stderr = r.stdout, r.stderr
	r.ran.Add(1)
	err := cmd.Run()
	if err == nil {
		return
	}
	r.failed.Add(1)
	var ee *exec.ExitError
	if u := errors.Unwrap(err); !errors.As(err, &ee) && u != nil {
		err = u // "executable file not found in $PATH", without exec's quoting of the name again
	}
	fmt.Fprintf(r.stderr, "flowcap: -e %s %s: %v\n", strings.Join(prog, " "), path, err)
}

// close waits for every queued file to be done.
func (r *runner) close() {
	close(r.jobs)
	r.wg.Wait()
}
