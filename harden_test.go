package main

// Helpers of the robustness tests (hostile_test.go, bounded_test.go,
// faults_test.go, signal_test.go): run the real binary as a child process
// and measure it, and write synthetic captures frame by frame.

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// result is what one run of the flowcap binary did.
type result struct {
	args           []string
	stdout, stderr string
	code           int            // exit status; -1 when killed
	signal         syscall.Signal // what killed it, if anything
	peakRSS        int64          // bytes, from wait4's rusage
	elapsed        time.Duration
	timedOut       bool
}

// execFlowcap runs `flowcap args...` (the test binary acting as flowcap,
// through the directory testscript puts on PATH) and waits for it, at
// most timeout; a run that takes longer is killed and marked timedOut.
//
// It runs flowcap under flowcap-rss (measureMain), because the peak RSS
// that wait4 reports for a child of this process would be at least this
// process's own: Go starts children with vfork, and the kernel charges
// the memory image a child leaves at exec to the child.
func execFlowcap(t testing.TB, timeout time.Duration, args ...string) result {
	t.Helper()
	return execMeasured(t, timeout, "flowcap", args...)
}

// execMeasured runs any program as execFlowcap runs flowcap.
func execMeasured(t testing.TB, timeout time.Duration, program string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "flowcap-rss", append([]string{program}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	report, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer report.Close()
	cmd.ExtraFiles = []*os.File{w}
	// A timeout kills flowcap-rss and flowcap with it: its process group.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	start := time.Now()
	err = cmd.Start()
	w.Close()
	if err != nil {
		t.Fatalf("flowcap %s: %v", strings.Join(args, " "), err)
	}
	measured, _ := io.ReadAll(report)
	err = cmd.Wait()
	r := result{args: args, stdout: stdout.String(), stderr: stderr.String(), elapsed: time.Since(start), timedOut: ctx.Err() != nil}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("flowcap %s: %v", strings.Join(args, " "), err)
	}
	r.code = cmd.ProcessState.ExitCode()
	var sig int
	if _, err := fmt.Sscanf(string(measured), "code %d signal %d rss %d", &r.code, &sig, &r.peakRSS); err != nil && !r.timedOut {
		t.Fatalf("flowcap %s: flowcap-rss said %q: %v\nstderr: %s", strings.Join(args, " "), measured, err, r.stderr)
	}
	r.signal = syscall.Signal(sig)
	return r
}

// measureMain is the flowcap-rss command: `flowcap-rss PROGRAM ARGS...`
// runs the program with its standard files, and writes its exit status,
// killing signal and peak RSS (bytes) to descriptor 3. Being a fresh
// process, its own memory image is small, so that figure is the program's.
func measureMain() {
	cmd := exec.Command(os.Args[1], os.Args[2:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	err := cmd.Run()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		fmt.Fprintln(os.Stderr, "flowcap-rss:", err)
		os.Exit(2)
	}
	ps := cmd.ProcessState
	var sig syscall.Signal
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		sig = ws.Signal()
	}
	var rss int64
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		rss = ru.Maxrss << 10 // KiB on Linux
	}
	report := os.NewFile(3, "report")
	fmt.Fprintf(report, "code %d signal %d rss %d", ps.ExitCode(), int(sig), rss)
	report.Close()
	os.Exit(0)
}

// mib formats bytes as MiB for messages.
func mib(n int64) float64 { return float64(n) / (1 << 20) }

// A line flowcap prints: its name first, then one line per problem.
var (
	flowcapLine = regexp.MustCompile(`^flowcap: \S`)
	warningLine = regexp.MustCompile(`^flowcap: warning: `)
)

// checkOutcome reports why r is not an acceptable end of a run on a
// hostile input ("" if it is): exit 0, or exit 1 with exactly one error
// line (beside warnings and the summary); every line starts with "flowcap: "; no Go panic or
// stack trace, no hang, no death by signal.
func checkOutcome(r result) string {
	switch {
	case r.timedOut:
		return "timed out (hang?)"
	case r.signal != 0:
		return "killed by " + r.signal.String()
	case strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "panic:") || strings.Contains(r.stderr, "runtime error"):
		return "a Go panic or stack trace"
	case r.code != 0 && r.code != 1:
		return "exit status " + strconv.Itoa(r.code)
	}
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	if r.stderr == "" {
		lines = nil
	}
	errs := 0
	for _, l := range lines {
		if !flowcapLine.MatchString(l) {
			return "a line that is not flowcap's: " + l
		}
		if !warningLine.MatchString(l) && !summaryLine.MatchString(l) {
			errs++
		}
	}
	switch {
	case r.code == 0 && errs > 0:
		return "exit 0 with an error line"
	case r.code == 1 && errs != 1:
		return "exit 1 without exactly one error line"
	}
	return ""
}

var summaryLine = regexp.MustCompile(`^flowcap: \d+ packets \(`)

// frameWriter writes a classic pcap file (Ethernet, microseconds) of TCP
// segments over IPv4, for the hostile shapes capturetest's scenarios do
// not make: floods of SYNs and sequence numbers that jump. TCP checksums
// are left zero (flowcap, like tcpflow, does not check them).
type frameWriter struct {
	w     *bufio.Writer
	frame []byte
	t     int64 // µs
}

func newFrameWriter(w io.Writer) (*frameWriter, error) {
	fw := &frameWriter{w: bufio.NewWriterSize(w, 1<<20), t: 1_700_000_000_000_000}
	var h [24]byte
	binary.LittleEndian.PutUint32(h[0:], 0xa1b2c3d4)
	binary.LittleEndian.PutUint16(h[4:], 2)
	binary.LittleEndian.PutUint16(h[6:], 4)
	binary.LittleEndian.PutUint32(h[16:], 262144)
	binary.LittleEndian.PutUint32(h[20:], 1) // Ethernet
	_, err := fw.w.Write(h[:])
	return fw, err
}

// TCP flags as on the wire.
const (
	tcpFIN = 1 << 0
	tcpSYN = 1 << 1
	tcpRST = 1 << 2
	tcpPSH = 1 << 3
	tcpACK = 1 << 4
)

// segment writes one frame from src to dst, 10 µs after the previous one.
func (fw *frameWriter) segment(src, dst netip.AddrPort, seq, ack uint32, flags byte, payload []byte) error {
	const hdr = 14 + 20 + 20
	f := append(fw.frame[:0], make([]byte, hdr)...)
	s, d := src.Addr().As4(), dst.Addr().As4()
	copy(f[0:6], []byte{2, 0, 0, 0, 0, 2})
	copy(f[6:12], []byte{2, 0, 0, 0, 0, 1})
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	ip := f[14:34]
	ip[0] = 0x45
	binary.BigEndian.PutUint16(ip[2:], uint16(40+len(payload)))
	ip[8] = 64
	ip[9] = 6
	copy(ip[12:16], s[:])
	copy(ip[16:20], d[:])
	var sum uint32
	for i := 0; i < 20; i += 2 {
		sum += uint32(binary.BigEndian.Uint16(ip[i:]))
	}
	for sum > 0xffff {
		sum = sum&0xffff + sum>>16
	}
	binary.BigEndian.PutUint16(ip[10:], ^uint16(sum))
	tcp := f[34:54]
	binary.BigEndian.PutUint16(tcp[0:], src.Port())
	binary.BigEndian.PutUint16(tcp[2:], dst.Port())
	binary.BigEndian.PutUint32(tcp[4:], seq)
	binary.BigEndian.PutUint32(tcp[8:], ack)
	tcp[12] = 5 << 4
	tcp[13] = flags
	binary.BigEndian.PutUint16(tcp[14:], 65535)
	f = append(f, payload...)
	fw.frame = f

	var rec [16]byte
	binary.LittleEndian.PutUint32(rec[0:], uint32(fw.t/1_000_000))
	binary.LittleEndian.PutUint32(rec[4:], uint32(fw.t%1_000_000))
	binary.LittleEndian.PutUint32(rec[8:], uint32(len(f)))
	binary.LittleEndian.PutUint32(rec[12:], uint32(len(f)))
	fw.t += 10
	if _, err := fw.w.Write(rec[:]); err != nil {
		return err
	}
	_, err := fw.w.Write(f)
	return err
}

func (fw *frameWriter) flush() error { return fw.w.Flush() }
