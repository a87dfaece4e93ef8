package main

// The progress bar of flowcap read on a terminal: bytes of input read of
// the total, rate, time left and open flows, on stderr. mpb draws it; the
// lines flowcap writes to stderr meanwhile go through mpb, above the bar.

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowcap/flowcap/capture"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// progressDelay is how long a run goes before the bar shows: short runs
// print nothing more than without a terminal.
var progressDelay = 500 * time.Millisecond

// progressEvery is how often the reader's position is read.
const progressEvery = 100 * time.Millisecond

// progressWanted says whether flowcap read shows a bar: on a terminal,
// without -q, and not over console output on the same terminal.
func progressWanted(cfg *config, stdout, stderr io.Writer) bool {
	return isTerminal(stderr) && !cfg.quiet && os.Getenv("TERM") != "dumb" &&
		!(cfg.console.on && isTerminal(stdout))
}

// progress is the bar of one flowcap read. It is the run's stderr: what
// is written to it appears above the bar while the bar runs, and goes
// straight to stderr before start and after stop.
type progress struct {
	stderr io.Writer
	mu     sync.Mutex    // guards prog and shown
	prog   *mpb.Progress // nil unless the bar runs
	shown  bool          // the bar is on the screen: writes go through prog
	bar    *mpb.Bar

	base  atomic.Int64                       // bytes of the inputs read to their end
	cur   atomic.Pointer[capture.Progresser] // the input being read
	name  atomic.Pointer[string]
	open  func() int64 // flows open now
	total int64        // bytes of all the inputs; -1 if unknown

	stopTick chan struct{}
	ticked   sync.WaitGroup
}

// start shows the bar of a run over inputs (total: the sum of their
// sizes, unknown if one is no regular file) after progressDelay; open
// counts the flows open. opts are for tests.
func (pr *progress) start(inputs []string, open func() int64, opts ...mpb.ContainerOption) {
	total := int64(0)
	for _, in := range inputs {
		fi, err := os.Stat(in)
		if in == "-" || err != nil || !fi.Mode().IsRegular() {
			total = -1
			break
		}
		total += fi.Size()
	}
	pr.open, pr.total, pr.stopTick = open, total, make(chan struct{})
	// mpb drops what is written through it before it shows the bar: until
	// then Write writes to stderr itself.
	show := make(chan any)
	time.AfterFunc(progressDelay, func() {
		pr.mu.Lock()
		defer pr.mu.Unlock()
		pr.shown = true
		close(show)
	})
	prog := mpb.New(append([]mpb.ContainerOption{mpb.WithOutput(pr.stderr), mpb.WithRenderDelay(show)}, opts...)...)
	flows := decor.Any(func(decor.Statistics) string { return fmt.Sprintf("%d open flows", pr.open()) }, decor.WCSyncSpace)
	input := decor.Any(func(decor.Statistics) string {
		if n := pr.name.Load(); n != nil {
			return *n
		}
		return ""
	}, decor.WCSyncSpaceR)
	speed := decor.AverageSpeed(decor.SizeB1024(0), "% .1f", decor.WCSyncSpace)
	if total > 0 {
		pr.bar = prog.AddBar(total, mpb.BarRemoveOnComplete(),
			mpb.PrependDecorators(input),
			mpb.AppendDecorators(
				decor.Counters(decor.SizeB1024(0), "% .1f / % .1f", decor.WCSyncSpace),
				speed,
				decor.Name(" ETA"),
				decor.AverageETA(decor.ET_STYLE_GO, decor.WCSyncSpace),
				flows,
			))
	} else {
		// Unknown total (stdin): no bar, the bytes read and the rate.
		pr.bar = prog.New(0, mpb.NopStyle(), mpb.BarRemoveOnComplete(),
			mpb.PrependDecorators(input, decor.Current(decor.SizeB1024(0), "% .1f read", decor.WCSyncSpace), speed, flows))
	}
	pr.mu.Lock()
	pr.prog = prog
	pr.mu.Unlock()
	pr.ticked.Add(1)
	go pr.tick()
}

// tick moves the bar to the reader's position until stop.
func (pr *progress) tick() {
	defer pr.ticked.Done()
	t := time.NewTicker(progressEvery)
	defer t.Stop()
	for {
		select {
		case <-pr.stopTick:
			return
		case <-t.C:
			done := pr.done()
			if pr.total > 0 {
				// A bar that reaches its total completes and goes; a file
				// still growing as it is read must not make it go early.
				done = min(done, pr.total-1)
			}
			pr.bar.SetCurrent(done)
		}
	}
}

// done is the bytes of input read: the inputs finished and the current one.
func (pr *progress) done() int64 {
	n := pr.base.Load()
	if cur := pr.cur.Load(); cur != nil {
		d, _ := (*cur).Progress()
		n += d
	}
	return n
}

// reading tells the bar which input is being read; nil: none, the previous
// one was read to its end.
func (pr *progress) reading(src capture.Source) {
	if pr == nil {
		return
	}
	if prev := pr.cur.Swap(nil); prev != nil {
		done, total := (*prev).Progress()
		pr.base.Add(max(total, done)) // a damaged input counts whole
	}
	if p, ok := src.(capture.Progresser); ok {
		name := filepath.Base(src.Name())
		if name == "-" {
			name = "stdin"
		}
		if r := []rune(name); len(r) > 24 {
			name = string(r[:23]) + "…"
		}
		pr.name.Store(&name)
		pr.cur.Store(&p)
	}
}

// stop removes the bar; later writes go straight to stderr. It may be
// called more than once.
func (pr *progress) stop() {
	if pr == nil {
		return
	}
	pr.mu.Lock()
	prog := pr.prog
	pr.prog = nil
	pr.mu.Unlock()
	if prog == nil {
		return
	}
	close(pr.stopTick)
	pr.ticked.Wait()
	pr.bar.Abort(true)
	prog.Wait()
}

// openFlows counts the flows open in every shard, as of their last batch.
func (p *pipeline) openFlows() int64 {
	var n int64
	for i := range p.open {
		n += p.open[i].Load()
	}
	return n
}

// Write prints p above the bar while the bar shows, else on stderr.
// Lines are written whole by the callers (one Write each).
func (pr *progress) Write(p []byte) (int, error) {
	pr.mu.Lock()
	defer pr.mu.Unlock()
	if pr.prog != nil && pr.shown {
		if n, err := pr.prog.Write(p); err == nil {
			return n, nil
		}
	}
	return pr.stderr.Write(p)
}
