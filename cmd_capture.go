package main

// flowcap capture: live capture on a Linux interface. The order of things
// matters: open the sockets (needs CAP_NET_RAW), attach the kernel filter,
// drop privileges (-U), then create the output, then read. On a signal
// each reader stops its socket and reads what the ring holds; only when
// every reader is done are the sockets closed (gopacket#78: closing under a
// read crashes), the flows finished and the files closed.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/user"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/flowcap/flowcap/bpf"
	"github.com/flowcap/flowcap/capture"
	"github.com/urfave/cli/v2"
)

// liveConfig is what flowcap capture adds to config.
type liveConfig struct {
	iface      string // "" = the default interface
	promisc    bool
	ringMiB    int
	fanout     int
	statsEvery time.Duration // -R; 0: no periodic line
	count      int64         // --count; 0: no limit
	user       string        // -U
}

// liveOptions are the compiler options for the kernel's copy of the
// filter: libpcap's code for live Linux sockets (the outer VLAN tag in the
// kernel's metadata; the cooked socket of any).
var liveOptions = bpf.Options{Live: true}

func captureFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "interface", Aliases: []string{"i"}, Usage: "capture on `IF` (any: every interface); default: the first interface up that is not loopback"},
		&cli.BoolFlag{Name: "no-promiscuous-mode", Aliases: []string{"p"}, Usage: "do not put the interface into promiscuous mode"},
		&cli.IntFlag{Name: "buffer-size", Aliases: []string{"B"}, Value: capture.DefaultRingBytes >> 20, Usage: "kernel ring of `MiB` (all --fanout sockets together)"},
		&cli.IntFlag{Name: "fanout", Value: 1, Usage: "read with `N` sockets in one PACKET_FANOUT_HASH group, one core each"},
		&cli.IntFlag{Name: "stats", Aliases: []string{"R"}, Usage: "print packets, bytes, kernel drops, open flows every `SECONDS`"},
		&cli.Int64Flag{Name: "count", Usage: "stop after `N` packets that pass the filter"},
		&cli.StringFlag{Name: "user", Aliases: []string{"U"}, Usage: "once the sockets are open, run as `USER` (a name, or UID[:GID]); files are created as that user"},
	}
}

func captureCommand() *cli.Command {
	return &cli.Command{
		Name:      "capture",
		Usage:     "capture live on an interface (Linux) and reassemble its TCP connections",
		UsageText: "flowcap capture [-i IF] [options] [EXPRESSION]",
		Flags:     append(readFlags(), captureFlags()...),
		Action: func(c *cli.Context) error {
			return captureAction(c, strings.Join(c.Args().Slice(), " "))
		},
		OnUsageError: usageError,
	}
}

// captureAction is flowcap capture and flowcap without -r; expr is the
// trailing expression.
func captureAction(c *cli.Context, expr string) error {
	cfg, err := configFrom(c, expr)
	if err != nil {
		return err
	}
	cfg.live = liveConfig{
		iface:      c.String("interface"),
		promisc:    !c.Bool("no-promiscuous-mode"),
		ringMiB:    c.Int("buffer-size"),
		fanout:     c.Int("fanout"),
		statsEvery: time.Duration(c.Int("stats")) * time.Second,
		count:      c.Int64("count"),
		user:       c.String("user"),
	}
	switch lc := cfg.live; {
	case lc.ringMiB < 1 || lc.ringMiB > 1<<16:
		return fmt.Errorf("-B %d: must be between 1 and 65536 MiB", lc.ringMiB)
	case lc.fanout < 1 || lc.fanout > 64:
		return fmt.Errorf("--fanout %d: must be between 1 and 64", lc.fanout)
	case c.Int("stats") < 0:
		return fmt.Errorf("-R %d: must be 0 (none) or more seconds", c.Int("stats"))
	case lc.count < 0:
		return fmt.Errorf("--count %d: must be 0 (no limit) or more", lc.count)
	}
	return captureMain(c.Context, cfg, c.App.Writer, c.App.ErrWriter)
}

// errCountReached cancels the capture when --count packets have passed.
var errCountReached = errors.New("--count packets captured")

// captureMain runs a live capture until a signal, --count or an error.
// A signal is a normal end: exit status 0.
func captureMain(ctx context.Context, cfg *config, stdout, stderr io.Writer) error {
	lc := cfg.live
	name := lc.iface
	if name == "" {
		var err error
		if name, err = capture.DefaultInterface(); err != nil {
			return err
		}
		if !cfg.quieter {
			fmt.Fprintf(stderr, "flowcap: no -i: capturing on %s\n", name)
		}
	}
	live, err := capture.OpenLive(capture.LiveConfig{
		Interface:   name,
		Sockets:     lc.fanout,
		RingBytes:   lc.ringMiB << 20,
		Promiscuous: lc.promisc,
	})
	if err != nil {
		return openLiveError(name, err)
	}
	// Closed only after every reader has returned (see below); this is for
	// the early returns.
	closeLive := sync.OnceFunc(func() { live.Close() })
	defer closeLive()
	checkUntil, err := attachFilter(live, cfg)
	if err != nil {
		return err
	}
	if lc.user != "" {
		if err := dropPrivileges(lc.user); err != nil {
			return err
		}
	}

	var tap *pcapTap
	if cfg.writePcap != "" {
		if tap, err = openTap(cfg.writePcap, stdout, live.LinkType()); err != nil {
			return err
		}
	}
	socks := live.Sockets()
	cfg.readers = len(socks)
	p, err := newPipeline(cfg, stdout, stderr)
	if err != nil {
		if tap != nil {
			tap.close()
		}
		if lc.user != "" {
			return fmt.Errorf("%w (as user %s)", err, lc.user)
		}
		return err
	}
	p.tap = tap
	p.checkUntil = checkUntil
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if lc.count > 0 {
		p.limit = lc.count
		p.limitReached = func() { cancel(errCountReached) }
	}
	readers := make([]*reader, len(socks))
	for i := range socks {
		readers[i] = p.newReader()
	}
	if !cfg.quiet {
		fmt.Fprintf(stderr, "flowcap: listening on %s, link-type %v, %d MiB ring", name, live.LinkType(), lc.ringMiB)
		if len(socks) > 1 {
			fmt.Fprintf(stderr, ", %d sockets", len(socks))
		}
		fmt.Fprintln(stderr)
	}

	errs := make([]error, len(socks))
	var wg sync.WaitGroup
	for i, s := range socks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = readers[i].feed(ctx, s)
			readers[i].flush()
			if err := errs[i]; err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, errDrainCut) {
				cancel(err) // a socket failed: the others stop too
			}
		}()
	}
	stopStats := p.reportStats(live, lc.statsEvery)
	wg.Wait()
	stopStats()
	kernel, kerr := live.Stats()
	closeLive()
	ferr := p.finish()

	failed, drainCut := false, false
	var said []string // each socket may fail alike: say it once
	for _, err := range errs {
		switch {
		case err == nil, errors.Is(err, context.Canceled):
		case errors.Is(err, errDrainCut):
			drainCut = true
		default:
			failed = true
			if msg := err.Error(); !slices.Contains(said, msg) {
				said = append(said, msg)
				fmt.Fprintf(stderr, "flowcap: %s\n", msg)
			}
		}
	}
	if ferr != nil {
		return ferr
	}
	if kerr == nil {
		p.kernel = &kernel
	}
	if !cfg.quiet {
		p.printSummary()
	}
	if kerr != nil && !cfg.quieter {
		fmt.Fprintf(stderr, "flowcap: warning: %v\n", kerr)
	}
	// Losses are never silent, not even with -q.
	if drainCut {
		left := "the packets"
		if kerr == nil {
			rs, _ := p.stats()
			left = fmt.Sprintf("%d packets", max(int64(kernel.Received-kernel.Dropped)-int64(rs.packets), 0))
		}
		fmt.Fprintf(stderr, "flowcap: warning: stopped reading %s %v after the signal: %s still in the ring are not reassembled (a smaller -B drains faster)\n", name, drainTimeout, left)
	}
	if kernel.Dropped > 0 {
		fmt.Fprintf(stderr, "flowcap: warning: the kernel dropped %d of %d packets (ring full %d times): give a larger -B, or more --fanout sockets\n",
			kernel.Dropped, kernel.Received, kernel.Freezes)
	}
	if failed {
		return &exitError{code: 1}
	}
	return nil
}

// openLiveError explains the common failures of opening a capture.
func openLiveError(name string, err error) error {
	if errors.Is(err, os.ErrPermission) {
		exe, xerr := os.Executable()
		if xerr != nil {
			exe = "flowcap"
		}
		return fmt.Errorf("capturing on %s needs CAP_NET_RAW (%v): run as root, or grant it once with: sudo setcap cap_net_raw,cap_net_admin+ep %s", name, errors.Unwrap(err), exe)
	}
	return err
}

// attachFilter gives the kernel its copy of the filter, compiled for what
// the socket sees (bpf.Options.Live: libpcap's live Linux semantics, VLAN
// tags in the kernel's metadata). It returns the time it was attached:
// packets captured up to then reached the ring unfiltered (between the
// bind and the attach), so user space checks them against the program for
// files, on the frame with its tag put back; later packets are the
// kernel's to judge, as with tcpdump -i. When the filter has no program
// for files on this link type (inbound, outbound, ifindex), those few
// early packets are dropped and counted instead.
func attachFilter(live *capture.Live, cfg *config) (checkUntil int64, err error) {
	if cfg.filter == nil {
		return 0, nil // OpenLive attached its own prefix, accepting everything else
	}
	kf, err := buildFilter(liveOptions, cfg.exprs)
	if err != nil {
		return 0, err
	}
	lt := uint32(live.LinkType())
	if live.Interface() == "any" {
		lt = bpf.LinkTypeLinuxSLL2 // the cooked socket, as tcpdump -i any compiles for it
	}
	prog, err := kf.Program(lt)
	if err != nil {
		return 0, fmt.Errorf("the filter cannot apply to %s in the kernel: %w", live.Interface(), err)
	}
	if err := live.SetFilter(prog.Raw()); err != nil {
		return 0, err
	}
	return time.Now().UnixNano(), nil
}

// dropPrivileges switches to the user spec names (a name from the user
// database, or UID[:GID]) with that user's groups, as tcpdump -Z does. Go
// applies setuid and setgid to every thread of the process.
func dropPrivileges(spec string) error {
	uid, gid, groups, err := lookupUser(spec)
	if err != nil {
		return fmt.Errorf("-U %s: %w", spec, err)
	}
	if err := syscall.Setgroups(groups); err != nil {
		return fmt.Errorf("-U %s: setgroups: %w (changing user needs root)", spec, err)
	}
	if err := syscall.Setgid(gid); err != nil {
		return fmt.Errorf("-U %s: setgid %d: %w", spec, gid, err)
	}
	if err := syscall.Setuid(uid); err != nil {
		return fmt.Errorf("-U %s: setuid %d: %w", spec, uid, err)
	}
	return nil
}

func lookupUser(spec string) (uid, gid int, groups []int, err error) {
	if u, lerr := user.Lookup(spec); lerr == nil {
		if uid, err = strconv.Atoi(u.Uid); err != nil {
			return 0, 0, nil, err
		}
		if gid, err = strconv.Atoi(u.Gid); err != nil {
			return 0, 0, nil, err
		}
		groups = []int{gid}
		if ids, gerr := u.GroupIds(); gerr == nil {
			for _, id := range ids {
				if g, err := strconv.Atoi(id); err == nil && g != gid {
					groups = append(groups, g)
				}
			}
		}
		return uid, gid, groups, nil
	}
	// No such name (a FROM scratch image has no /etc/passwd): UID[:GID].
	us, gs, hasGID := strings.Cut(spec, ":")
	uid, err = strconv.Atoi(us)
	if err != nil || uid < 0 {
		return 0, 0, nil, errors.New("no such user (give a name from /etc/passwd, or UID[:GID])")
	}
	gid = uid
	if hasGID {
		if gid, err = strconv.Atoi(gs); err != nil || gid < 0 {
			return 0, 0, nil, fmt.Errorf("bad group %q", gs)
		}
	}
	return uid, gid, []int{gid}, nil
}

// reportStats prints a line every interval (-R) until the returned
// function is called. Without -R it still reads the kernel's counters now
// and then, so that none of its 32-bit counters wraps unseen.
func (p *pipeline) reportStats(live *capture.Live, every time.Duration) (stop func()) {
	quiet := every <= 0
	if quiet {
		every = time.Minute
	}
	done := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		t := time.NewTicker(every)
		defer t.Stop()
		var last struct{ packets, bytes, dropped, freezes, out uint64 }
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			k, err := live.Stats()
			if quiet {
				continue
			}
			var packets, bytes uint64
			for _, r := range p.readers {
				packets += r.pub.packets.Load()
				bytes += r.pub.bytes.Load()
			}
			var open int64
			for i := range p.open {
				open += p.open[i].Load()
			}
			out, what := p.bytesOut()
			kernel := "kernel counters unavailable"
			if err == nil {
				kernel = fmt.Sprintf("%d dropped by the kernel, %d ring freezes", k.Dropped-last.dropped, k.Freezes-last.freezes)
				last.dropped, last.freezes = k.Dropped, k.Freezes
			}
			fmt.Fprintf(p.stderr, "flowcap: last %v: %d packets, %d bytes, %s; %d open flows, %d %s\n",
				every, packets-last.packets, bytes-last.bytes, kernel, open, out-last.out, what)
			last.packets, last.bytes, last.out = packets, bytes, out
		}
	}()
	return func() { close(done); <-finished }
}
