package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"slices"
	"strings"
	"time"

	"github.com/flowcap/flowcap/bpf"
	"github.com/flowcap/flowcap/reassembly"
	"github.com/urfave/cli/v2"
)

// version is set at build time by -ldflags "-X main.version=...".
var version = "dev"

// exitError carries an exit status other than 1 out of a command.
type exitError struct {
	code int
	err  error // nil: nothing more to print
}

func (e *exitError) Error() string {
	if e.err == nil {
		return fmt.Sprintf("exit status %d", e.code)
	}
	return e.err.Error()
}

func (e *exitError) Unwrap() error { return e.err }

// run is the whole program but for the process: it parses args, runs the
// command and maps what went wrong to an exit status, in one place.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	app := newApp(stdout, stderr)
	app.Metadata = map[string]any{"args": args} // for report.xml's command line
	err := app.RunContext(ctx, permuteArgs(app, args))
	if err == nil {
		return 0
	}
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err != nil {
			fmt.Fprintf(stderr, "flowcap: %v\n", ee.err)
		}
		return ee.code
	}
	fmt.Fprintf(stderr, "flowcap: %v\n", err)
	return 1
}

func init() {
	// urfave/cli's defaults would take -v for the version; ours is -V, as tcpflow's.
	cli.VersionFlag = &cli.BoolFlag{Name: "version", Aliases: []string{"V"}, Usage: "print the version and exit"}
	cli.HelpFlag = &cli.BoolFlag{Name: "help", Aliases: []string{"h"}, Usage: "show help"}
}

func newApp(stdout, stderr io.Writer) *cli.App {
	rootFlags := append(readFlags(), &cli.StringSliceFlag{Name: "r", Usage: "read packets from `FILE` (repeatable; - is stdin)"})
	return &cli.App{
		Name:  "flowcap",
		Usage: "record TCP connections as data, one file per direction (a tcpflow successor)",
		UsageText: "flowcap read [options] FILE...\n" +
			"flowcap capture [-i IF] [options] [EXPRESSION]\n" +
			"flowcap -r FILE [options] [EXPRESSION]   (tcpflow style: read)\n" +
			"flowcap [-i IF] [options] [EXPRESSION]   (tcpflow style: capture)",
		Version:   version,
		Writer:    stdout,
		ErrWriter: stderr,
		// tcpflow muscle memory: `flowcap -r trace.pcap -o out [expression]`,
		// `flowcap -i eth0 -o out [expression]`.
		Flags:                  append(rootFlags, captureFlags()...),
		Action:                 rootAction,
		Commands:               []*cli.Command{readCommand(), captureCommand(), filterCommand()},
		UseShortOptionHandling: true,
		HideHelpCommand:        true,
		OnUsageError:           usageError,
		ExitErrHandler:         func(*cli.Context, error) {}, // run maps errors to exit codes
	}
}

// usageError turns urfave's usage complaints into one line.
func usageError(_ *cli.Context, err error, _ bool) error {
	return fmt.Errorf("%v (see flowcap --help)", err)
}

func rootAction(c *cli.Context) error {
	// tcpflow style: the words after the options are the filter expression.
	expr := strings.Join(c.Args().Slice(), " ")
	files := c.StringSlice("r")
	if len(files) == 0 {
		if c.NArg() == 0 && c.NumFlags() == 0 {
			return cli.ShowAppHelp(c)
		}
		// No -r: capture, on -i or on the default interface, as tcpflow.
		return captureAction(c, expr)
	}
	for _, f := range captureFlags() {
		if names := f.Names(); c.IsSet(names[0]) {
			label := "--" + names[0]
			if len(names) > 1 {
				label = "-" + names[1] + " (" + label + ")"
			}
			return fmt.Errorf("%s is for live capture, not for reading files (-r)", label)
		}
	}
	cfg, err := configFrom(c, expr)
	if err != nil {
		return err
	}
	cfg.inputs = files
	return readMain(c.Context, cfg, c.App.Writer, c.App.ErrWriter)
}

func readCommand() *cli.Command {
	return &cli.Command{
		Name:      "read",
		Usage:     "reassemble the TCP connections of pcap/pcapng files (gzip too; - is stdin)",
		UsageText: "flowcap read [options] FILE...",
		Flags:     readFlags(),
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return errors.New("read: no input file (use - for stdin)")
			}
			cfg, err := configFrom(c, "")
			if err != nil {
				return err
			}
			cfg.inputs = c.Args().Slice()
			return readMain(c.Context, cfg, c.App.Writer, c.App.ErrWriter)
		},
		OnUsageError: usageError,
	}
}

// config is everything a run needs, bound from the flags in one place.
type config struct {
	inputs     []string
	filter     *bpf.Filter // nil: every packet
	exprs      [3]string   // what filter was built from: -F, the trailing words, -P
	writePcap  string      // -w: also write the packets that passed the filter here
	outDir     string
	maxBytes   int64
	maxDisk    int64             // --max-disk: bytes of flow files in all; 0 = no limit
	reassembly reassembly.Config // the shard's index and count, and the shared budget, are the pipeline's
	shards     int
	quiet      bool // -q: no summary
	quieter    bool // -Q: nor notes and warnings, but those of lost data
	verbose    bool
	strict     bool // -l: report out-of-order, overlapping, retransmitted segments
	console    consoleConfig
	readers    int        // how many readers feed the pipeline at once (0: one)
	live       liveConfig // flowcap capture
	reports    reportConfig
	mem        int64  // --mem: bytes of buffered data in all (perf.go)
	cpuProfile string // hidden --cpuprofile and --memprofile: where to write profiles
	memProfile string
}

func readFlags() []cli.Flag {
	return append([]cli.Flag{
		&cli.StringFlag{Name: "output", Aliases: []string{"o", "d"}, Value: ".", Usage: "write flow files into `DIR` (created if missing)"},
		&cli.StringFlag{Name: "filter", Aliases: []string{"F"}, Usage: "only packets that match the tcpdump filter `EXPR`"},
		&cli.StringFlag{Name: "ports", Aliases: []string{"P"}, Usage: "only these TCP/UDP `PORTS` (80,443 or 80:443; a-b is a range)"},
		&cli.Int64Flag{Name: "max-bytes", Aliases: []string{"b"}, Usage: "store at most `BYTES` per direction (tcpflow -b); 0 = no limit"},
		&cli.IntFlag{Name: "idle-timeout", Aliases: []string{"J"}, Value: 3600, Usage: "close a flow idle for `SECONDS` of capture time; later data starts a new file (0: never)"},
		&cli.StringFlag{Name: "overlap", Value: "last", Usage: "which copy of overlapping data that differs is kept: `last` (tcpflow) or first"},
		&cli.IntFlag{Name: "shards", Value: runtime.GOMAXPROCS(0), Usage: "reassemble in `N` parallel shards"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no summary line"},
		&cli.BoolFlag{Name: "quieter", Aliases: []string{"Q"}, Usage: "as -q, and no notes, nor warnings but those of lost data"},
		&cli.BoolFlag{Name: "verbose", Aliases: []string{"v"}, Usage: "also list each flow as it closes"},
		&cli.StringFlag{Name: "write", Aliases: []string{"w"}, Usage: "also write the packets that pass the filter to `FILE` as pcap (- is stdout)"},
	}, slices.Concat(reportFlags(), limitFlags(), consoleFlags(), strictFlags(), perfFlags())...)
}

// configFrom binds the flags; expr is the tcpflow-style trailing expression.
func configFrom(c *cli.Context, expr string) (*config, error) {
	cfg := &config{
		outDir:    c.String("output"),
		maxBytes:  c.Int64("max-bytes"),
		shards:    c.Int("shards"),
		quiet:     c.Bool("quiet") || c.Bool("quieter"),
		quieter:   c.Bool("quieter"),
		verbose:   c.Bool("verbose"),
		writePcap: c.String("write"),
		exprs:     [3]string{c.String("filter"), expr, c.String("ports")},
	}
	if cfg.maxBytes < 0 {
		return nil, fmt.Errorf("-b %d: must be 0 or more", cfg.maxBytes)
	}
	if cfg.shards < 1 || cfg.shards > 1024 {
		return nil, fmt.Errorf("--shards %d: must be between 1 and 1024", cfg.shards)
	}
	switch idle := c.Int("idle-timeout"); {
	case idle < 0:
		return nil, fmt.Errorf("-J %d: must be 0 (never) or more seconds", idle)
	case idle == 0:
		cfg.reassembly.IdleTimeout = -1
	default:
		cfg.reassembly.IdleTimeout = int64(idle) * int64(time.Second)
	}
	switch o := c.String("overlap"); o {
	case "last":
		cfg.reassembly.Overlap = reassembly.LastWins
	case "first":
		cfg.reassembly.Overlap = reassembly.FirstWins
	default:
		return nil, fmt.Errorf("--overlap %q: must be last or first", o)
	}
	if err := limits(c, cfg); err != nil {
		return nil, err
	}
	if err := perfConfig(c, cfg); err != nil {
		return nil, err
	}
	var err error
	if cfg.reports, err = reportConfigFrom(c, cfg.outDir); err != nil {
		return nil, err
	}
	if err := strictConfigFrom(c, cfg); err != nil {
		return nil, err
	}
	if err := consoleConfigFrom(c, cfg, expr); err != nil {
		return nil, err
	}
	filter, err := buildFilter(bpf.Options{}, cfg.exprs)
	if err != nil {
		return nil, err
	}
	cfg.filter = filter
	return cfg, nil
}

// buildFilter ands the -F expression, the trailing words and the -P ports;
// nil when there is none of them.
func buildFilter(opts bpf.Options, exprs [3]string) (*bpf.Filter, error) {
	if ports := exprs[2]; ports != "" {
		e, err := bpf.PortsExpr(ports)
		if err != nil {
			return nil, fmt.Errorf("-P: %w", err)
		}
		exprs[2] = e
	}
	var filter *bpf.Filter
	for _, e := range exprs {
		if strings.TrimSpace(e) == "" {
			continue
		}
		f, err := bpf.NewFilter(e, opts)
		if err != nil {
			return nil, err
		}
		if filter == nil {
			filter = f
		} else {
			filter = filter.And(f)
		}
	}
	return filter, nil
}

// permuteArgs moves flags in front of positional arguments, so that
// `flowcap read -o out trace.pcap -F 'port 80'` works as users expect
// (urfave/cli, like Go's flag package, stops at the first positional word).
// Everything after "--" stays positional.
func permuteArgs(app *cli.App, args []string) []string {
	if len(args) < 2 {
		return args
	}
	out := []string{args[0]}
	rest := args[1:]
	rootValued := valuedFlags(app.Flags)
	// Skip the root's own flags to find a subcommand name, if any.
	i := 0
	for i < len(rest) && rest[i] != "--" && isFlagToken(rest[i]) {
		if rootValued[flagName(rest[i])] && !strings.Contains(rest[i], "=") {
			i++
		}
		i++
	}
	if i < len(rest) {
		if cmd := app.Command(rest[i]); cmd != nil {
			out = append(out, rest[:i+1]...)
			return append(out, permute(rest[i+1:], valuedFlags(cmd.Flags))...)
		}
	}
	return append(out, permute(rest, rootValued)...)
}

func permute(args []string, valued map[string]bool) []string {
	var flags, positional []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			positional = append(positional, args[i+1:]...)
			break
		}
		if !isFlagToken(a) {
			positional = append(positional, a)
			continue
		}
		flags = append(flags, a)
		if valued[flagName(a)] && !strings.Contains(a, "=") && i+1 < len(args) {
			flags = append(flags, args[i+1])
			i++
		}
	}
	if len(positional) == 0 {
		return flags
	}
	return append(append(flags, "--"), positional...)
}

func isFlagToken(a string) bool { return len(a) > 1 && a[0] == '-' }

func flagName(a string) string {
	name := strings.TrimLeft(a, "-")
	if i := strings.IndexByte(name, '='); i >= 0 {
		name = name[:i]
	}
	return name
}

// valuedFlags lists the names of the flags that take a value.
func valuedFlags(flags []cli.Flag) map[string]bool {
	m := map[string]bool{}
	for _, f := range flags {
		if _, isBool := f.(*cli.BoolFlag); isBool {
			continue
		}
		for _, n := range f.Names() {
			m[n] = true
		}
	}
	return m
}
