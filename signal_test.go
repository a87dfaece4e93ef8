package main

// Signals during flowcap read (issue 6, point 6): the first SIGINT or
// SIGTERM ends the run within 2 seconds with every flow file flushed and
// closed and the status a shell expects (130, 143); a second exits at once.

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/flowcap/flowcap/capture/capturetest"
)

// countingWriter counts what went through; past stallAt bytes (if set)
// it stops writing, as a capture tool that sees no traffic does, until
// release is closed.
type countingWriter struct {
	w       io.Writer
	n       atomic.Int64
	stallAt int64
	release chan struct{}
}

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.stallAt > 0 && c.n.Load()+int64(len(p)) > c.stallAt {
		<-c.release
		return 0, errors.New("released")
	}
	n, err := c.w.Write(p)
	c.n.Add(int64(n))
	return n, err
}

// A signal while flowcap reads a large capture from a FIFO, the writer
// still writing (feeding) or silent with the FIFO open (stalled, where a
// read waits for data): exit status 128+signal within 2 s; the summary;
// every file is the start of its stream, complete up to where flowcap
// stopped; report.xml and flows.jsonl are complete.
func TestSignalDuringRead(t *testing.T) {
	const perDir = 64 << 20 // never all written: the signal comes first
	cs := make([]capturetest.Conn, 8)
	for i := range cs {
		c, s := capturetest.Endpoints(i, false)
		cs[i] = capturetest.Conn{Client: c, Server: s, Turn: 256 << 10,
			ClientData: capturetest.Pattern(uint64(2*i), perDir), ServerData: capturetest.Pattern(uint64(2*i+1), perDir)}
	}
	streams := map[string]capturetest.Data{}
	for i := range cs {
		streams[cs[i].Name(capturetest.ClientToServer)] = cs[i].ClientData
		streams[cs[i].Name(capturetest.ServerToClient)] = cs[i].ServerData
	}
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		for _, stalled := range []bool{false, true} {
			name := fmt.Sprintf("%v/feeding", sig)
			if stalled {
				name = fmt.Sprintf("%v/stalled", sig)
			}
			t.Run(name, func(t *testing.T) {
				dir := t.TempDir()
				fifo := filepath.Join(dir, "capture.fifo")
				if err := syscall.Mkfifo(fifo, 0o600); err != nil {
					t.Fatal(err)
				}
				out := filepath.Join(dir, "out")
				cmd := exec.Command("flowcap", "read", "-o", out, fifo)
				var stderr bytes.Buffer
				cmd.Stderr = &stderr
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				cw := &countingWriter{release: make(chan struct{})}
				if stalled {
					cw.stallAt = 24 << 20
				}
				writerDone := make(chan error, 1)
				go func() {
					f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
					if err != nil {
						writerDone <- err
						return
					}
					defer f.Close()
					cw.w = f
					sc := &capturetest.Scenario{Seed: 9, Conns: cs}
					_, err = sc.Write(cw, capturetest.Format{})
					writerDone <- err
				}()
				defer close(cw.release)

				// Signal once flowcap is well into the capture.
				for deadline := time.Now().Add(30 * time.Second); cw.n.Load() < 16<<20; time.Sleep(5 * time.Millisecond) {
					if time.Now().After(deadline) {
						cmd.Process.Kill()
						t.Fatalf("flowcap read only %d bytes in 30 s", cw.n.Load())
					}
				}
				if stalled {
					time.Sleep(100 * time.Millisecond) // flowcap now waits for data
				}
				exited := make(chan error, 1)
				go func() { exited <- cmd.Wait() }()
				sent := time.Now()
				if err := cmd.Process.Signal(sig); err != nil {
					t.Fatal(err)
				}
				select {
				case <-exited:
				case <-time.After(10 * time.Second):
					cmd.Process.Kill()
					<-exited
					t.Fatalf("still running 10 s after %v", sig)
				}
				took := time.Since(sent)
				t.Logf("exited %v after %v, having been fed %.1f MiB", cmd.ProcessState, took.Round(time.Millisecond), mib(cw.n.Load()))
				if took > 2*time.Second {
					t.Errorf("took %v after %v, want at most 2 s", took, sig)
				}
				if code := cmd.ProcessState.ExitCode(); code != 128+int(sig) {
					t.Errorf("exit status %d, want %d: %s", code, 128+int(sig), stderr.String())
				}
				m := regexp.MustCompile(`^flowcap: \d+ packets \(\d+ TCP\), 8 connections, (\d+) flow files, (\d+) bytes written, 0 holes\n$`).FindStringSubmatch(stderr.String())
				if m == nil {
					t.Fatalf("stderr %q, want the summary alone", stderr.String())
				}
				checkStreamPrefixes(t, out, streams, m[1], m[2])
				checkReports(t, out)
			})
		}
	}
}

// checkReports checks that an interrupted run left complete reports:
// report.xml well-formed, each line of flows.jsonl a JSON object.
func checkReports(t *testing.T, out string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(out, "report.xml"))
	if err != nil {
		t.Fatal(err)
	}
	d := xml.NewDecoder(bytes.NewReader(b))
	for {
		if _, err := d.Token(); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("report.xml: %v", err)
		}
	}
	lines, err := os.ReadFile(filepath.Join(out, "flows.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for line := range bytes.Lines(lines) {
		var v map[string]any
		if err := json.Unmarshal(line, &v); err != nil {
			t.Fatalf("flows.jsonl line %d: %v", n+1, err)
		}
		n++
	}
	if n != 8 {
		t.Errorf("flows.jsonl: %d connections, want 8", n)
	}
}

// checkStreamPrefixes checks that each file of out holds the first bytes
// of its stream, and that the files are as many and as large as the
// summary said.
func checkStreamPrefixes(t *testing.T, out string, streams map[string]capturetest.Data, files, bytesWritten string) {
	t.Helper()
	got := outputFiles(t, out)
	var total int64
	for name, g := range got {
		d, ok := streams[name]
		if !ok {
			t.Errorf("unexpected file %s", name)
			continue
		}
		want := make([]byte, len(g))
		d.Fill(want, 0)
		if !bytes.Equal(g, want) {
			t.Errorf("%s: %d bytes, not the start of its stream", name, len(g))
		}
		total += int64(len(g))
	}
	if strconv.Itoa(len(got)) != files || strconv.FormatInt(total, 10) != bytesWritten {
		t.Errorf("%d files, %d bytes on disk; the summary says %s files, %s bytes", len(got), total, files, bytesWritten)
	}
	if total == 0 {
		t.Error("nothing written")
	}
}

// A second signal exits at once, whatever the first is waiting for: here
// a consumer of -w - that reads nothing, so that flowcap cannot finish.
func TestSecondSignalExitsAtOnce(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close() // never read: flowcap blocks once the pipe is full
	cmd := exec.Command("flowcap", "read", "-q", "-w", "-", "-o", t.TempDir(), sample)
	cmd.Stdout = w
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	w.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// Signal only once flowcap is stuck on the full pipe. A fixed sleep was
	// too short for a race-instrumented child, which then finished cleanly.
	waitPipeFull(t, cmd.Process.Pid, r, exited)
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
		t.Fatalf("exited (%v) on the first signal: the test needs it stuck on its output", cmd.ProcessState)
	case <-time.After(300 * time.Millisecond):
	}
	sent := time.Now()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		<-exited
		t.Fatal("still running 5 s after the second signal")
	}
	if took := time.Since(sent); took > 500*time.Millisecond {
		t.Errorf("exited %v after the second signal, want at once", took)
	}
	if code := cmd.ProcessState.ExitCode(); code != 128+int(syscall.SIGTERM) {
		t.Errorf("exit status %d, want %d (the second signal's): %s", code, 128+int(syscall.SIGTERM), stderr.String())
	}
}

// waitPipeFull waits until the process writing into the pipe whose read
// end is r is blocked on it: one of its threads sleeps in the kernel's
// pipe_write, or the pipe holds all it can. It fails the test if the
// writer exits or a minute passes first.
func waitPipeFull(t *testing.T, pid int, r *os.File, exited <-chan error) {
	t.Helper()
	fd := int(r.Fd())
	capacity, err := unix.FcntlInt(uintptr(fd), unix.F_GETPIPE_SZ, 0)
	if err != nil {
		t.Fatalf("F_GETPIPE_SZ: %v", err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		n, err := unix.IoctlGetInt(fd, unix.TIOCINQ) // FIONREAD
		if err != nil {
			t.Fatalf("FIONREAD: %v", err)
		}
		if n >= capacity || n > 0 && sleepsInPipeWrite(pid) {
			return
		}
		select {
		case err := <-exited:
			t.Fatalf("exited (%v) before its output filled the pipe (%d of %d bytes)", err, n, capacity)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("the pipe holds %d of %d bytes after a minute", n, capacity)
		}
	}
}

// sleepsInPipeWrite reports whether a thread of process pid waits in the
// kernel to write into a pipe (a pipe's pages can be partly filled, so
// one that takes no more need not hold its capacity).
func sleepsInPipeWrite(pid int) bool {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/wchan", pid))
	for _, f := range tasks {
		if b, err := os.ReadFile(f); err == nil && bytes.Contains(b, []byte("pipe_write")) {
			return true
		}
	}
	return false
}
