package main

// What flowcap writes and runs beside the flow files: report.xml (-X,
// --no-report), flows.jsonl (--flows, --no-flows), the md5 and http
// scanners (-e md5, -e http, -Z), programs run on closed flow files (-e
// PROGRAM, --exec) and per-flow pcaps (-K). The work is flowfile's
// Reporter and its sink; this file binds the flags and hooks them into the
// pipeline.

import (
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/flowcap/flowcap/flowfile"
	"github.com/flowcap/flowcap/reassembly"
	"github.com/urfave/cli/v2"
)

// reportConfig is what the report flags ask for.
type reportConfig struct {
	xml, flows string // paths; "" for none
	md5, http  bool
	raw        bool       // -Z: HTTP bodies as they came
	exec       [][]string // programs, each with its arguments
	pcap       bool       // -K
	args       []string   // the command line, for report.xml
}

// listValue collects a repeatable flag's values as given (urfave's
// StringSliceFlag would split them at commas: a program's arguments may
// hold some). urfave copies a flag's value to its aliases through String
// and Set: String's form starts with a NUL, which Set takes as the whole
// list.
type listValue []string

func (l *listValue) Set(s string) error {
	if list, ok := strings.CutPrefix(s, "\x00"); ok {
		*l = strings.Split(list, "\x00")
		return nil
	}
	*l = append(*l, s)
	return nil
}

func (l *listValue) String() string {
	if len(*l) == 0 {
		return ""
	}
	return "\x00" + strings.Join(*l, "\x00")
}

func reportFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "report", Aliases: []string{"X"}, Usage: "write the DFXML report (tcpflow's report.xml) to `FILE` (default: report.xml in the output directory)"},
		&cli.BoolFlag{Name: "no-report", Usage: "write no report.xml"},
		&cli.StringFlag{Name: "flows", Usage: "write one JSON line per connection to `FILE` (default: flows.jsonl in the output directory; - is stdout)"},
		&cli.BoolFlag{Name: "no-flows", Usage: "write no flows.jsonl"},
		&cli.GenericFlag{Name: "enable", Aliases: []string{"e"}, Value: new(listValue), Usage: "enable the scanner `NAME` (md5, http), or else run NAME as a program on each flow file when it closes (repeatable)"},
		&cli.GenericFlag{Name: "exec", Value: new(listValue), Usage: "run `PROGRAM` (with its arguments, if quoted) on each flow file when it closes, its path last; at most 4 at once (repeatable)"},
		&cli.BoolFlag{Name: "md5", Usage: "each flow file's MD5 in report.xml and flows.jsonl (as -e md5)"},
		&cli.BoolFlag{Name: "http", Usage: "write each HTTP/1.x response body to NAME-HTTPBODY-NNN.EXT (as -e http)"},
		&cli.BoolFlag{Name: "no-gunzip", Aliases: []string{"Z"}, Usage: "with --http: keep gzip and deflate bodies compressed"},
		&cli.BoolFlag{Name: "pcap-per-flow", Aliases: []string{"K"}, Usage: "also write each flow's packets to NAME.pcap beside its flow file NAME"},
	}
}

// reportConfigFrom binds the report flags; outDir is the output directory.
func reportConfigFrom(c *cli.Context, outDir string) (reportConfig, error) {
	rc := reportConfig{md5: c.Bool("md5"), http: c.Bool("http"), raw: c.Bool("no-gunzip"), pcap: c.Bool("pcap-per-flow")}
	if args, ok := c.App.Metadata["args"].([]string); ok {
		rc.args = args
	}
	switch {
	case c.Bool("no-report") && c.IsSet("report"):
		return rc, errors.New("-X and --no-report: choose one")
	case c.IsSet("report"):
		rc.xml = c.String("report")
	case !c.Bool("no-report"):
		rc.xml = filepath.Join(outDir, "report.xml")
	}
	switch {
	case c.Bool("no-flows") && c.IsSet("flows"):
		return rc, errors.New("--flows and --no-flows: choose one")
	case c.IsSet("flows"):
		rc.flows = c.String("flows")
	case !c.Bool("no-flows"):
		rc.flows = filepath.Join(outDir, "flows.jsonl")
	}
	if l, ok := c.Generic("enable").(*listValue); ok {
		for _, v := range *l {
			switch v {
			case "md5":
				rc.md5 = true
			case "http":
				rc.http = true
			default:
				prog, err := program("-e", v)
				if err != nil {
					return rc, err
				}
				rc.exec = append(rc.exec, prog)
			}
		}
	}
	if l, ok := c.Generic("exec").(*listValue); ok {
		for _, v := range *l {
			prog, err := program("--exec", v)
			if err != nil {
				return rc, err
			}
			rc.exec = append(rc.exec, prog)
		}
	}
	if rc.flows == "-" && c.String("write") == "-" {
		return rc, errors.New("--flows - and -w -: both would write to stdout")
	}
	if rc.raw && !rc.http {
		return rc, errors.New("-Z keeps HTTP bodies compressed: it needs --http (or -e http)")
	}
	return rc, nil
}

// program splits a program and its arguments, and makes sure it can run.
func program(flag, v string) ([]string, error) {
	f := strings.Fields(v)
	if len(f) == 0 {
		return nil, fmt.Errorf("%s: empty program", flag)
	}
	if _, err := exec.LookPath(f[0]); err != nil {
		if flag == "-e" && !strings.ContainsAny(f[0], "/ ") {
			return nil, fmt.Errorf("-e %s: not a scanner (md5, http), nor a program found in $PATH", v)
		}
		return nil, fmt.Errorf("%s %s: %w", flag, v, errors.Unwrap(err))
	}
	return f, nil
}

// wanted says whether a Reporter has anything to do.
func (rc *reportConfig) wanted() bool {
	return rc.xml != "" || rc.flows != "" || len(rc.exec) > 0 || rc.md5 || rc.http
}

// newReporter makes the Reporter of a run.
func newReporter(cfg *config, w *flowfile.Writer, stdout, stderr io.Writer) (*flowfile.Reporter, error) {
	rc := cfg.reports
	execOut := stdout
	if cfg.writePcap == "-" || rc.flows == "-" {
		execOut = stderr // stdout carries data: the programs' output would corrupt it
	}
	var reserve func(int64) bool
	if cfg.maxDisk > 0 { // the reports share the quota with the flow files
		reserve = w.ReserveDisk
	}
	return flowfile.NewReporter(flowfile.ReportConfig{
		Dir: cfg.outDir, XML: rc.xml, Flows: rc.flows, Reserve: reserve,
		MD5: rc.md5, HTTP: rc.http, Raw: rc.raw, Exec: rc.exec,
		Creator: flowfile.Creator{Program: "flowcap", Version: version, CommandLine: rc.args, Start: time.Now()},
		Stdout:  stdout, ExecStdout: execOut, Stderr: stderr,
	})
}

// bothOnClose calls a then b.
func bothOnClose(a, b func(*reassembly.Stream, string, int64)) func(*reassembly.Stream, string, int64) {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return func(st *reassembly.Stream, name string, size int64) {
		a(st, name, size)
		b(st, name, size)
	}
}

// closeReports ends the reports once the files are closed. failed is why
// the flow data is incomplete (a write error), nil if it is not: the
// reports then keep their .partial names (see flowfile.Reporter.Close).
func (p *pipeline) closeReports(failed error) error {
	if p.reporter == nil {
		return nil
	}
	rs, _ := p.stats()
	sum := flowfile.Summary{Packets: rs.packets, PeakOpenFiles: p.writer.Stats().PeakOpen}
	for _, s := range p.shards {
		st := s.Stats()
		sum.Flows += st.Streams
		sum.OpenFlows += st.Open
	}
	return p.reporter.Close(failed, sum)
}

// withFrame gives seg its frame, for -K, unless its payload is not in it
// (an IP datagram put together from fragments: its frames are not kept).
func withFrame(seg *reassembly.Segment, frame []byte, lt uint32) bool {
	if len(seg.Payload) > 0 && payloadAt(frame, seg.Payload) < 0 {
		return false
	}
	seg.Frame, seg.LinkType = frame, lt
	return true
}

// payloadAt returns where p starts in frame, -1 if p is not a part of it.
// Both slice the same buffer up to its end (the decoder slices p from the
// frame with two indexes), which their capacities show.
func payloadAt(frame, p []byte) int {
	if cap(frame) == 0 || cap(p) == 0 {
		return -1
	}
	at := cap(frame) - cap(p)
	if at < 0 || at+len(p) > len(frame) || &frame[:cap(frame)][cap(frame)-1] != &p[:cap(p)][cap(p)-1] {
		return -1
	}
	return at
}

// addFramed is batch.add for a segment with its frame (-K): the frame is
// copied into the arena and the payload points into that copy.
func (b *batch) addFramed(seg *reassembly.Segment) bool {
	n := len(seg.Frame)
	if len(b.segs) == cap(b.segs) {
		return false
	}
	at := payloadAt(seg.Frame, seg.Payload)
	var frame []byte
	if len(b.arena)+n > cap(b.arena) {
		if len(b.segs) > 0 {
			return false
		}
		frame = append([]byte(nil), seg.Frame...) // larger than an arena: its own copy
	} else {
		start := len(b.arena)
		b.arena = append(b.arena, seg.Frame...)
		frame = b.arena[start : start+n : start+n]
	}
	b.segs = append(b.segs, *seg)
	s := &b.segs[len(b.segs)-1]
	s.Frame = frame
	if at >= 0 {
		s.Payload = frame[at : at+len(seg.Payload) : at+len(seg.Payload)]
	}
	return true
}

// reportSummary adds to the summary line what the reports, scanners,
// programs and -K did.
func (p *pipeline) reportSummary(w io.Writer) {
	rc := &p.cfg.reports
	if p.reporter != nil {
		st := p.reporter.Stats()
		if rc.http {
			fmt.Fprintf(w, ", %d HTTP bodies", st.Bodies)
			if st.BodiesCut > 0 {
				fmt.Fprintf(w, " (%d responses cut short)", st.BodiesCut)
			}
		}
		if st.LeftOut > 0 {
			fmt.Fprintf(w, ", %d connections left out of the reports (--max-disk)", st.LeftOut)
		}
		if st.ScanErrors > 0 {
			fmt.Fprintf(w, ", %d flow files the scanners could not read or write", st.ScanErrors)
		}
		if st.Ran > 0 {
			fmt.Fprintf(w, ", %d programs run", st.Ran)
			if st.Failed > 0 {
				fmt.Fprintf(w, " (%d failed)", st.Failed)
			}
		}
	}
	if rc.pcap {
		ws := p.writer.Stats()
		rs, _ := p.stats()
		fmt.Fprintf(w, ", %d packets in per-flow pcaps", ws.PcapFrames)
		if n := ws.PcapLeft + rs.noFrame; n > 0 {
			fmt.Fprintf(w, " (%d left out: of another link type, or IP fragments)", n)
		}
	}
}
