package main

// The console (-c and its options): flowcap prints the streams on stdout
// instead of writing flow files. The printing is flowfile.Console; this
// file binds the flags.

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/flowcap/flowcap/flowfile"
	"github.com/flowcap/flowcap/reassembly"
	"github.com/urfave/cli/v2"
	"golang.org/x/term"
)

// consoleConfig is what the console flags ask for.
type consoleConfig struct {
	on  bool
	cfg flowfile.ConsoleConfig // Out, Shards and OnClose are the pipeline's
}

// consoleOptions are the flags that shape the console; each one alone
// turns it on, as tcpflow's -C does.
var consoleOptions = []string{"raw", "no-header", "seq", "line-time", "chunk-time", "hex", "json", "g"}

func consoleFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "console", Aliases: []string{"c"}, Usage: "print the streams on stdout instead of writing files: each flow's data in order, in chunks as they become contiguous, each headed NAME: (tcpflow -c)"},
		&cli.BoolFlag{Name: "raw", Aliases: []string{"x"}, Usage: "console: print every byte as it is, instead of \\xNN for all but printable ASCII, newline, CR and tab"},
		&cli.BoolFlag{Name: "no-header", Aliases: []string{"j"}, Usage: "console: no NAME: in front of each chunk (tcpflow -C)"},
		&cli.BoolFlag{Name: "seq", Aliases: []string{"s"}, Usage: "console: the sequence numbers of each chunk in its header, [seq FIRST:NEXT] as tcpdump prints them"},
		&cli.BoolFlag{Name: "line-time", Aliases: []string{"t"}, Usage: "console: the capture time (RFC 3339, UTC, microseconds) in front of each line"},
		&cli.BoolFlag{Name: "chunk-time", Aliases: []string{"T"}, Usage: "console: the capture time in front of each chunk"},
		&cli.BoolFlag{Name: "hex", Aliases: []string{"D"}, Usage: "console: a hex dump, in tcpflow -D's layout"},
		&cli.BoolFlag{Name: "json", Usage: "console: one JSON object per chunk (flow name, addresses, ports, offset, sequence number, time, data in base64)"},
		&cli.StringFlag{Name: "color", Value: "auto", Usage: "console: tcpflow -g's colours (blue client to server, red the other way) `WHEN`: auto (stdout a terminal and NO_COLOR unset), always, never"},
		&cli.BoolFlag{Name: "g", Usage: "console: colours even when stdout is no terminal (--color always)"},
	}
}

// consoleConfigFrom binds the console flags into cfg (after the others:
// it turns off what a console run does not write). expr is the trailing
// expression, for a hint to tcpflow users.
func consoleConfigFrom(c *cli.Context, cfg *config, expr string) error {
	cc := &cfg.console
	cc.on = c.Bool("console")
	for _, name := range consoleOptions {
		cc.on = cc.on || c.Bool(name)
	}
	if c.Bool("chunk-time") && strings.Contains(expr, "%") {
		return errors.New("-T: flowcap's -T puts the capture time in front of each console chunk; tcpflow's file name templates (-T %A...) are not supported")
	}
	if c.IsSet("color") && !cc.on && c.String("color") != "never" {
		return errors.New("--color is for the console: add -c")
	}
	if !cc.on {
		return nil
	}
	cc.cfg = flowfile.ConsoleConfig{
		Format:    flowfile.ConsoleText,
		Dir:       cfg.outDir,
		Raw:       c.Bool("raw"),
		NoHeader:  c.Bool("no-header"),
		Seq:       c.Bool("seq"),
		ChunkTime: c.Bool("chunk-time"),
		LineTime:  c.Bool("line-time"),
		Arrival:   cfg.reassembly.Arrival,
		MaxBytes:  cfg.maxBytes,
	}
	switch {
	case c.Bool("json"):
		cc.cfg.Format = flowfile.ConsoleJSON
		for _, f := range []struct{ name, flag string }{{"hex", "-D"}, {"raw", "-x"}, {"no-header", "-j"}, {"seq", "-s"}, {"line-time", "-t"}, {"chunk-time", "-T"}, {"g", "-g"}} {
			if c.Bool(f.name) {
				return fmt.Errorf("--json and %s: each JSON object has the time, sequence number and data already; choose one", f.flag)
			}
		}
	case c.Bool("hex"):
		cc.cfg.Format = flowfile.ConsoleHex
		if cc.cfg.Raw {
			return errors.New("-D and -x: the hex dump shows every byte; choose one")
		}
	}
	switch when := c.String("color"); {
	case when != "auto" && when != "always" && when != "never":
		return fmt.Errorf("--color %q: must be auto, always or never", when)
	case c.Bool("g") && when == "never":
		return errors.New("-g and --color never: choose one")
	case cc.cfg.Format == flowfile.ConsoleJSON && when == "always":
		return errors.New("--json and --color always: JSON has no colours")
	case c.Bool("g"), when == "always":
		cc.cfg.Color = true
	case when == "auto":
		cc.cfg.Color = cc.cfg.Format != flowfile.ConsoleJSON && colorTerminal(c.App.Writer)
	}

	// The console writes no files: nothing to report on, no pcaps beside.
	rc := &cfg.reports
	for _, f := range []struct {
		name, flag string
	}{{"report", "-X"}, {"flows", "--flows"}, {"enable", "-e"}, {"exec", "--exec"}, {"md5", "--md5"}, {"http", "--http"}, {"no-gunzip", "-Z"}, {"pcap-per-flow", "-K"}, {"max-disk", "--max-disk"}} {
		if c.IsSet(f.name) {
			return fmt.Errorf("-c prints the streams and writes no flow files: %s needs them", f.flag)
		}
	}
	rc.xml, rc.flows = "", ""
	if cfg.writePcap == "-" {
		return errors.New("-c and -w -: both write to stdout; give -w a file")
	}
	return nil
}

// colorTerminal says whether colours suit w: a terminal, NO_COLOR unset
// (no-color.org), TERM not dumb.
func colorTerminal(w io.Writer) bool {
	return isTerminal(w) && os.Getenv("NO_COLOR") == "" && os.Getenv("TERM") != "dumb"
}

// isTerminal says whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// newConsole makes the console of a run.
func newConsole(cfg *config, stdout io.Writer, onClose func(*reassembly.Stream, string, int64)) *flowfile.Console {
	cc := cfg.console.cfg
	cc.Out, cc.Shards, cc.OnClose = stdout, cfg.shards, onClose
	return flowfile.NewConsole(cc)
}

// bytesOut says how many bytes the sinks produced so far, and what they
// are, for the lines of -R.
func (p *pipeline) bytesOut() (uint64, string) {
	if p.console != nil {
		return p.console.Stats().Bytes, "bytes printed"
	}
	return p.writer.Stats().Written, "bytes written"
}
