package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flowcap/flowcap/capture"
	"golang.org/x/sys/unix"
)

// openPty returns a pseudo-terminal of 100 columns: its controller (what
// a terminal emulator reads) and the terminal a program writes to.
func openPty(t *testing.T) (ctl, tty *os.File) {
	t.Helper()
	ctl, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatalf("no pseudo-terminals here: %v", err)
	}
	fd := int(ctl.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	tty, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := unix.IoctlSetWinsize(int(tty.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 30, Col: 100}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ctl.Close(); tty.Close() })
	return ctl, tty
}

func TestProgressWanted(t *testing.T) {
	_, tty := openPty(t)
	pr, pw, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer pr.Close()
	defer pw.Close()
	t.Setenv("TERM", "xterm")
	var buf bytes.Buffer
	tests := []struct {
		name           string
		cfg            config
		stdout, stderr io.Writer
		want           bool
	}{
		{"stderr a terminal", config{}, &buf, tty, true},
		{"stderr a pipe", config{}, &buf, pw, false},
		{"stderr a buffer", config{}, tty, &buf, false},
		{"-q", config{quiet: true}, &buf, tty, false},
		{"console to a file", config{console: consoleConfig{on: true}}, pw, tty, true},
		{"console on the terminal", config{console: consoleConfig{on: true}}, tty, tty, false},
	}
	for _, tt := range tests {
		if got := progressWanted(&tt.cfg, tt.stdout, tt.stderr); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
	t.Setenv("TERM", "dumb")
	if progressWanted(&config{}, &buf, tty) {
		t.Error("a bar on a dumb terminal")
	}
}

// TestProgressBar: flowcap read on a terminal shows the bar while it reads
// (here a pipe that pauses: the size is unknown), the lines of -v above
// it, and nothing of it is left when the summary comes.
func TestProgressBar(t *testing.T) {
	t.Setenv("TERM", "xterm")
	defer func(d time.Duration) { progressDelay = d }(progressDelay)
	progressDelay = 50 * time.Millisecond
	ctl, tty := openPty(t)
	var screen bytes.Buffer
	read := make(chan struct{})
	go func() {
		defer close(read)
		io.Copy(&screen, ctl) // ends when the test closes the terminal
	}()

	capture, err := os.ReadFile(filepath.Join("testdata", "capture", "zeek__http__bro.org.pcap"))
	if err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(t.TempDir(), "fifo")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		f, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			t.Error(err)
			return
		}
		defer f.Close()
		f.Write(capture[:200000])
		time.Sleep(600 * time.Millisecond) // the bar shows meanwhile
		f.Write(capture[200000:])
	}()

	var stdout bytes.Buffer
	flowcapMu.Lock()
	code := run(context.Background(), []string{"flowcap", "read", "-v", "-o", filepath.Join(t.TempDir(), "out"), fifo}, &stdout, tty)
	flowcapMu.Unlock()
	wg.Wait()
	time.Sleep(100 * time.Millisecond) // let the terminal pass on the last bytes
	tty.Close()
	ctl.Close()
	<-read
	if code != 0 {
		t.Fatalf("exit %d: %s", code, screen.String())
	}
	if stdout.Len() > 0 {
		t.Errorf("stdout: %q", stdout.String())
	}
	out := screen.String()
	bar := regexp.MustCompile(`fifo +[0-9.]+ KiB read +[0-9.]+ [KM]iB/s +[0-9]+ open flows`)
	if !bar.MatchString(out) {
		t.Errorf("no bar on the terminal:\n%q", out)
	}
	if n := strings.Count(out, " closed ("); n != 26 {
		t.Errorf("%d flows listed, want 26:\n%q", n, out)
	}
	// The summary ends the output, after the bar is gone.
	last := out[strings.LastIndex(strings.TrimRight(out, "\r\n"), "\n")+1:]
	if !strings.HasPrefix(strings.TrimLeft(last, "\x1b[0123456789;AJK"), "flowcap: 751 packets") {
		t.Errorf("last line %q, want the summary", last)
	}
}

// TestProgressTotal: reading files, the bar knows the total: how far, how
// fast, how long still, and the open flows.
func TestProgressTotal(t *testing.T) {
	defer func(d time.Duration) { progressDelay = d }(progressDelay)
	progressDelay = 0
	ctl, tty := openPty(t)
	var screen bytes.Buffer
	read := make(chan struct{})
	go func() {
		defer close(read)
		io.Copy(&screen, ctl)
	}()
	name := filepath.Join("testdata", "capture", "zeek__http__bro.org.pcap")
	src, err := capture.Open(name)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	for range 300 { // some of it
		if _, _, err := src.Next(); err != nil {
			t.Fatal(err)
		}
	}
	pr := &progress{stderr: tty}
	pr.start([]string{name, name}, func() int64 { return 7 })
	pr.reading(src)
	time.Sleep(400 * time.Millisecond) // a few refreshes
	fmt.Fprintf(pr, "a line above the bar\n")
	time.Sleep(200 * time.Millisecond)
	pr.stop()
	fmt.Fprintf(pr, "after\n")
	time.Sleep(100 * time.Millisecond)
	tty.Close()
	ctl.Close()
	<-read
	out := screen.String()
	bar := regexp.MustCompile(`zeek__http__bro\.org\.pcap +\[=+>?-+\] +[0-9.]+ KiB / 989\.3 KiB +[0-9.]+ [KM]iB/s +ETA [0-9.]+[µmh]?s +7 open flows`)
	if !bar.MatchString(out) {
		t.Errorf("no bar on the terminal:\n%q", out)
	}
	if !strings.Contains(out, "a line above the bar\r\n") || !strings.HasSuffix(out, "after\r\n") {
		t.Errorf("lines written meanwhile lost or out of place:\n%q", out)
	}
}

// TestConsoleColorTerminal: the console has tcpflow's colours when stdout
// is a terminal, none with NO_COLOR or --color never (and none in a pipe:
// the scripts).
func TestConsoleColorTerminal(t *testing.T) {
	t.Setenv("TERM", "xterm")
	name := filepath.Join("testdata", "capture", "gopacket__pcap__test_ethernet.pcap")
	for _, tt := range []struct {
		name    string
		args    []string
		noColor string
		want    bool
	}{
		{"terminal", nil, "", true},
		{"NO_COLOR", nil, "1", false},
		{"--color never", []string{"--color", "never"}, "", false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("NO_COLOR", tt.noColor)
			ctl, tty := openPty(t)
			var screen bytes.Buffer
			read := make(chan struct{})
			go func() {
				defer close(read)
				io.Copy(&screen, ctl)
			}()
			var errb bytes.Buffer
			flowcapMu.Lock()
			code := run(context.Background(), append([]string{"flowcap", "read", "-c", "-q", "--shards", "1", name}, tt.args...), tty, &errb)
			flowcapMu.Unlock()
			time.Sleep(100 * time.Millisecond)
			tty.Close()
			ctl.Close()
			<-read
			if code != 0 {
				t.Fatalf("exit %d: %s", code, errb.String())
			}
			out := screen.String()
			blue := strings.Contains(out, "\x1b[0;34m010.001.001.002.44644-010.001.001.001.00080: GET / HTTP/1.1")
			red := strings.Contains(out, "\x1b[0;31m010.001.001.001.00080-010.001.001.002.44644: HTTP/1.0 302")
			if blue != tt.want || red != tt.want || strings.Contains(out, "\x1b[") != tt.want {
				t.Errorf("colours %v, want %v:\n%q", blue && red, tt.want, out)
			}
		})
	}
}
