// Command flowbench measures flowcap against tcpflow on the benchmark
// workloads (capturetest.Workload) and against the machine's floors, as
// `make bench` runs it:
//
//	flowbench -flowcap ./flowcap [-runs 5] [-workloads interleaved,short,gro] [-scale 1]
//
// It writes each workload's capture into a temporary directory (on tmpfs:
// /dev/shm unless -dir says otherwise), then runs, in turn and several
// times, each contender with its output on that tmpfs: flowcap, tcpflow,
// flowcap --shards 1, and floors that do a part of the job only — read
// and decode every packet (the same capture package flowcap uses), and
// create the flow files flowcap wrote, with their sizes, in one write each,
// on one core and on all of them. The last is the most any tool that
// leaves these files can do here: its speed over tcpflow's is printed
// beside each speed target, the ceiling of what that target asks.
// The order rotates from run to run so that a noisy neighbour hurts every
// contender alike. For each it prints the median wall time, CPU time (user
// and system), peak RSS (the child's rusage), MB/s of input, and the ratios
// the performance targets are stated in. Before timing, it checks that
// flowcap writes the expected number of files and bytes, and that tcpflow
// wrote the same files.
//
// -profile DIR also runs flowcap once per workload with a CPU profile and
// prints `go tool pprof -top` of it.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/flowcap/flowcap/capture"
	"github.com/flowcap/flowcap/capture/capturetest"
	"github.com/flowcap/flowcap/reassembly"
)

func main() {
	runChild()
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// runChild runs, and exits, when flowbench was started as its own runner
// or as a floor: it starts both as its own executable.
func runChild() {
	switch {
	case len(os.Args) == 2 && os.Args[1] == "-runner":
		os.Exit(runnerMain())
	case len(os.Args) > 1 && strings.HasPrefix(os.Args[1], "-floor-"):
		os.Exit(floorMain(os.Args[1:]))
	}
}

type options struct {
	flowcap, tcpflow string
	runs             int
	workloads        []string
	scale            float64
	dir              string
	profile          string
	keep             bool
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("flowbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.StringVar(&o.flowcap, "flowcap", "./flowcap", "the flowcap binary to measure")
	fs.StringVar(&o.tcpflow, "tcpflow", "tcpflow", "the tcpflow binary (1.6.1) to compare with")
	fs.IntVar(&o.runs, "runs", 5, "runs of each contender (medians are printed)")
	workloads := fs.String("workloads", strings.Join(capturetest.Workloads, ","), "workloads to run")
	fs.Float64Var(&o.scale, "scale", 1, "scale of the workloads (0.01: a quick check)")
	fs.StringVar(&o.dir, "dir", "", "directory for captures and outputs, on tmpfs (default: a new one in /dev/shm)")
	fs.StringVar(&o.profile, "profile", "", "also write a CPU profile of flowcap per workload into `DIR` and print its top")
	fs.BoolVar(&o.keep, "keep", false, "keep the captures and outputs")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	o.workloads = strings.Split(*workloads, ",")
	if o.runs < 1 || o.scale <= 0 || fs.NArg() > 0 {
		fmt.Fprintln(stderr, "flowbench: -runs must be at least 1, -scale positive, and no arguments are taken")
		return 2
	}
	if err := bench(&o, stdout, stderr); err != nil {
		fmt.Fprintln(stderr, "flowbench:", err)
		return 1
	}
	return 0
}

// The contenders, by their index in bench's list.
const (
	cFlowcap = iota
	cTcpflow
	cOneShard
	cFloorRead
	cFloorCreate
	cFloorCreateAll
)

// A contender is one program measured on a workload.
type contender struct {
	name string
	cmd  func(in, out string) []string // argv; out is an empty directory
}

// A sample is one run of a contender.
type sample struct {
	wall, user, sys time.Duration
	rss             int64 // peak, bytes
}

func (s sample) cpu() time.Duration { return s.user + s.sys }

// A workload is a capture ready to be measured.
type workload struct {
	name    string
	path    string
	size    int64 // bytes of the capture file
	st      capturetest.Stats
	payload int64 // bytes of all streams: what the flow files hold
	conns   int
}

func bench(o *options, stdout, stderr io.Writer) error {
	flowcap, err := exec.LookPath(o.flowcap)
	if err != nil {
		return fmt.Errorf("%w (make bench builds it)", err)
	}
	if flowcap, err = filepath.Abs(flowcap); err != nil {
		return err
	}
	tcpflow, err := exec.LookPath(o.tcpflow)
	if err != nil {
		return fmt.Errorf("%w: tcpflow 1.6.1 is the reference (make deps installs it)", err)
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	if err := startRunner(self); err != nil {
		return err
	}
	defer stopRunner()
	root := o.dir
	if root == "" {
		if root, err = os.MkdirTemp("/dev/shm", "flowbench-"); err != nil {
			return fmt.Errorf("%w (use -dir DIR on a tmpfs)", err)
		}
	} else if err := os.MkdirAll(root, 0o777); err != nil {
		return err
	}
	if !o.keep {
		defer os.RemoveAll(root)
	}
	var sfs unix.Statfs_t
	if err := unix.Statfs(root, &sfs); err == nil && sfs.Type != unix.TMPFS_MAGIC {
		fmt.Fprintf(stderr, "flowbench: warning: %s is not on tmpfs: the figures include the disk\n", root)
	}
	printMachine(stdout, tcpflow)
	fmt.Fprintf(stdout, "%d runs of each, in rotating order; medians. Captures and outputs in %s.\n", o.runs, root)

	out := filepath.Join(root, "out")
	spec := filepath.Join(root, "files.txt") // each workload's files, written by check
	// In the order of their indexes (cFlowcap, cTcpflow, ...).
	cs := []contender{
		{"flowcap", func(in, out string) []string { return []string{flowcap, "read", "-q", "-o", out, in} }},
		{"tcpflow", func(in, out string) []string { return []string{tcpflow, "-r", in, "-o", out} }},
		{"flowcap --shards 1", func(in, out string) []string {
			return []string{flowcap, "read", "-q", "--shards", "1", "-o", out, in}
		}},
		{"floor: read+decode", func(in, out string) []string { return []string{self, "-floor-read", in} }},
		{"floor: create files", func(_, out string) []string { return []string{self, "-floor-create", spec, out, "1"} }},
		{"floor: create, all cores", func(_, out string) []string {
			return []string{self, "-floor-create", spec, out, strconv.Itoa(runtime.NumCPU())}
		}},
	}
	var verdicts []string
	for _, name := range o.workloads {
		w, err := generate(name, o.scale, root, stdout)
		if err != nil {
			return err
		}
		if err := check(w, flowcap, tcpflow, out, spec); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		results := make([][]sample, len(cs))
		for r := range o.runs {
			for k := range cs {
				i := (k + r) % len(cs)
				s, err := measure(cs[i].cmd(w.path, out), out)
				if err != nil {
					return fmt.Errorf("%s: %s: %w", name, cs[i].name, err)
				}
				results[i] = append(results[i], s)
			}
		}
		verdicts = append(verdicts, report(stdout, w, cs, results)...)
		if o.profile != "" {
			if err := profile(stdout, w, flowcap, out, o.profile); err != nil {
				return err
			}
		}
		os.RemoveAll(out)
		os.Remove(spec)
		if !o.keep {
			os.Remove(w.path)
		}
	}
	fmt.Fprintln(stdout, "\ntargets (docs/performance.md):")
	for _, v := range verdicts {
		fmt.Fprintln(stdout, "  "+v)
	}
	return nil
}

func printMachine(w io.Writer, tcpflow string) {
	model := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				model = strings.TrimSpace(v)
				break
			}
		}
	}
	var u unix.Utsname
	unix.Uname(&u)
	ver, _ := exec.Command(tcpflow, "-V").Output()
	fmt.Fprintf(w, "machine: %s, %d CPUs, %s %s, %s; %s\n", model, runtime.NumCPU(),
		unix.ByteSliceToString(u.Sysname[:]), unix.ByteSliceToString(u.Release[:]), runtime.Version(), strings.TrimSpace(string(ver)))
}

// generate writes the workload's capture into dir.
func generate(name string, scale float64, dir string, stdout io.Writer) (*workload, error) {
	var conns int
	size := int64(float64(1<<30) * scale)
	switch name {
	case "interleaved":
		conns = max(1, int(10000*scale))
	case "short":
		conns = max(1, int(200000*scale))
	}
	sc, err := capturetest.Workload(name, conns, size, 1, false)
	if err != nil {
		return nil, err
	}
	w := &workload{name: name, path: filepath.Join(dir, name+".pcap"), conns: len(sc.Conns)}
	for _, c := range sc.Conns {
		w.payload += c.ClientData.Len() + c.ServerData.Len()
	}
	t := time.Now()
	if w.st, err = sc.WriteFile(w.path, capturetest.Format{}); err != nil {
		return nil, err
	}
	fi, err := os.Stat(w.path)
	if err != nil {
		return nil, err
	}
	w.size = fi.Size()
	fmt.Fprintf(stdout, "\n== %s: %d connections, %d packets, %s of capture, %d flow files of %s (written in %.1fs)\n",
		name, w.conns, w.st.Packets, mb(w.size), w.st.Files, mb(w.payload), time.Since(t).Seconds())
	return w, nil
}

func mb(n int64) string { return fmt.Sprintf("%.0f MB", float64(n)/1e6) }

// check runs flowcap and tcpflow once: flowcap must write the expected
// number of files and bytes, and tcpflow the same files. It leaves the
// list of flowcap's files, with their sizes, in spec for the create floor.
func check(w *workload, flowcap, tcpflow, out, spec string) error {
	if _, err := measure([]string{flowcap, "read", "-q", "-o", out, w.path}, out); err != nil {
		return err
	}
	mine, err := listFiles(out)
	if err != nil {
		return err
	}
	var total int64
	var sb strings.Builder
	for _, f := range mine {
		total += f.size
		fmt.Fprintf(&sb, "%d %s\n", f.size, f.name)
	}
	if len(mine) != w.st.Files || total != w.payload {
		return fmt.Errorf("flowcap wrote %d files of %d bytes, want %d of %d", len(mine), total, w.st.Files, w.payload)
	}
	if err := os.WriteFile(spec, []byte(sb.String()), 0o666); err != nil {
		return err
	}
	theirs := filepath.Join(filepath.Dir(out), "tcpflow-out")
	defer os.RemoveAll(theirs)
	if _, err := measure([]string{tcpflow, "-r", w.path, "-o", theirs}, theirs); err != nil {
		return err
	}
	return sameFiles(out, theirs, mine)
}

type fileSize struct {
	name string
	size int64
}

// listFiles lists the flow files of dir (the reports aside: report.xml,
// and flowcap's flows.jsonl).
func listFiles(dir string) ([]fileSize, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var fs []fileSize
	for _, e := range ents {
		if e.Name() == "report.xml" || e.Name() == "flows.jsonl" {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			return nil, err
		}
		fs = append(fs, fileSize{e.Name(), fi.Size()})
	}
	return fs, nil
}

// sameFiles reports whether dir b holds the files of dir a, byte for byte.
func sameFiles(a, b string, as []fileSize) error {
	bs, err := listFiles(b)
	if err != nil {
		return err
	}
	if len(bs) != len(as) {
		return fmt.Errorf("tcpflow wrote %d files, flowcap %d", len(bs), len(as))
	}
	x, y := make([]byte, 1<<20), make([]byte, 1<<20)
	for _, f := range as {
		if err := sameFile(filepath.Join(a, f.name), filepath.Join(b, f.name), x, y); err != nil {
			return err
		}
	}
	return nil
}

func sameFile(a, b string, x, y []byte) error {
	fa, err := os.Open(a)
	if err != nil {
		return err
	}
	defer fa.Close()
	fb, err := os.Open(b)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("tcpflow wrote no %s", filepath.Base(a))
	} else if err != nil {
		return err
	}
	defer fb.Close()
	for {
		n, errA := io.ReadFull(fa, x)
		m, errB := io.ReadFull(fb, y)
		if n != m || !bytes.Equal(x[:n], y[:m]) {
			return fmt.Errorf("%s differs from tcpflow's", filepath.Base(a))
		}
		if errA == io.EOF || errA == io.ErrUnexpectedEOF {
			return nil
		}
		if err := errors.Join(errA, errB); err != nil {
			return err
		}
	}
}

// measure runs argv with out an empty directory and returns its wall
// time and rusage. Its output is discarded unless it fails.
func measure(argv []string, out string) (sample, error) {
	if err := os.RemoveAll(out); err != nil {
		return sample{}, err
	}
	if err := os.Mkdir(out, 0o777); err != nil {
		return sample{}, err
	}
	return runner.run(argv)
}

// The runner is a small child process that starts the programs measured.
// Linux reports as a child's peak RSS at least that of the process that
// forked it (Go forks with vfork: the child's exec records the parent's
// high-water mark), so the one that forks must stay small: not flowbench,
// which holds captures being written and files being compared.
type runnerProc struct {
	cmd *exec.Cmd
	in  *json.Encoder
	out *json.Decoder
}

var runner runnerProc

type runResult struct {
	Wall, User, Sys time.Duration
	RSS             int64
	Err             string
}

func startRunner(self string) error {
	cmd := exec.Command(self, "-runner")
	cmd.Stderr = os.Stderr
	w, err := cmd.StdinPipe()
	if err != nil {
		return err
	}
	r, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	if err := cmd.Start(); err != nil {
		return err
	}
	runner = runnerProc{cmd: cmd, in: json.NewEncoder(w), out: json.NewDecoder(r)}
	return nil
}

func stopRunner() {
	if runner.cmd != nil {
		runner.cmd.Process.Kill()
		runner.cmd.Wait()
	}
}

func (r *runnerProc) run(argv []string) (sample, error) {
	if err := r.in.Encode(argv); err != nil {
		return sample{}, fmt.Errorf("runner: %w", err)
	}
	var res runResult
	if err := r.out.Decode(&res); err != nil {
		return sample{}, fmt.Errorf("runner: %w", err)
	}
	if res.Err != "" {
		return sample{}, errors.New(res.Err)
	}
	return sample{wall: res.Wall, user: res.User, sys: res.Sys, rss: res.RSS}, nil
}

// runnerMain runs the argv arrays read from stdin, one at a time, and
// writes what each cost to stdout.
func runnerMain() int {
	in := json.NewDecoder(os.Stdin)
	out := json.NewEncoder(os.Stdout)
	for {
		var argv []string
		if err := in.Decode(&argv); err != nil {
			return 0
		}
		cmd := exec.Command(argv[0], argv[1:]...)
		var msgs bytes.Buffer
		cmd.Stdout, cmd.Stderr = &msgs, &msgs
		start := time.Now()
		err := cmd.Run()
		res := runResult{Wall: time.Since(start)}
		if err != nil {
			res.Err = fmt.Sprintf("%s: %v\n%s", strings.Join(argv, " "), err, msgs.Bytes())
		} else {
			ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
			res.User, res.Sys, res.RSS = time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano()), ru.Maxrss<<10
		}
		if out.Encode(res) != nil {
			return 1
		}
	}
}

func median(ss []sample, f func(sample) time.Duration) time.Duration {
	v := make([]time.Duration, len(ss))
	for i, s := range ss {
		v[i] = f(s)
	}
	slices.Sort(v)
	if n := len(v); n%2 == 0 {
		return (v[n/2-1] + v[n/2]) / 2
	}
	return v[len(v)/2]
}

func maxRSS(ss []sample) int64 {
	var m int64
	for _, s := range ss {
		m = max(m, s.rss)
	}
	return m
}

// report prints the workload's table and returns its target verdicts.
func report(out io.Writer, w *workload, cs []contender, results [][]sample) []string {
	wall := func(i int) time.Duration { return median(results[i], func(s sample) time.Duration { return s.wall }) }
	fc, tf, one := wall(cFlowcap), wall(cTcpflow), wall(cOneShard)
	rd, cr, crAll := wall(cFloorRead), wall(cFloorCreate), wall(cFloorCreateAll)
	fmt.Fprintf(out, "%-24s %8s %8s %8s %8s %9s %9s  %s\n", "", "wall", "cpu", "user", "sys", "peak RSS", "MB/s", "")
	for i, c := range cs {
		wl := wall(i)
		note := ""
		switch i {
		case cTcpflow:
			note = fmt.Sprintf("tcpflow/flowcap %.2fx", ratio(wl, fc))
		case cOneShard:
			note = fmt.Sprintf("--shards 2 is %.2fx faster", ratio(wl, fc))
		case cFloorRead, cFloorCreate:
			note = fmt.Sprintf("flowcap/floor %.2fx", ratio(fc, wl))
		case cFloorCreateAll:
			note = fmt.Sprintf("flowcap/floor %.2fx; tcpflow/floor %.2fx", ratio(fc, wl), ratio(tf, wl))
		}
		fmt.Fprintf(out, "%-24s %7.3fs %7.3fs %7.3fs %7.3fs %5d MiB %9.0f  %s\n", c.name, wl.Seconds(),
			median(results[i], sample.cpu).Seconds(),
			median(results[i], func(s sample) time.Duration { return s.user }).Seconds(),
			median(results[i], func(s sample) time.Duration { return s.sys }).Seconds(),
			maxRSS(results[i])>>20, float64(w.size)/1e6/wl.Seconds(), note)
	}
	want := map[string]float64{"interleaved": 6, "short": 3, "gro": 1.5}[w.name]
	floor := max(rd, cr)
	v := []string{
		verdict(ratio(tf, fc) >= want, "%s: %.2fx faster than tcpflow (target %gx; creating the files alone, on all cores: %.2fx)",
			w.name, ratio(tf, fc), want, ratio(tf, crAll)),
		verdict(ratio(fc, floor) <= 2, "%s: %.2fx the larger floor (target at most 2x)", w.name, ratio(fc, floor)),
		verdict(maxRSS(results[cFlowcap]) <= 128<<20, "%s: peak RSS %d MiB (target at most 128 MiB)", w.name, maxRSS(results[cFlowcap])>>20),
	}
	if w.name == "interleaved" {
		v = append(v, verdict(ratio(one, fc) >= 1.6, "%s: --shards 2 %.2fx faster than --shards 1 (target 1.6x)", w.name, ratio(one, fc)))
	}
	return v
}

func ratio(a, b time.Duration) float64 { return a.Seconds() / b.Seconds() }

func verdict(ok bool, format string, args ...any) string {
	mark := "MET    "
	if !ok {
		mark = "MISSED "
	}
	return mark + fmt.Sprintf(format, args...)
}

// profile runs flowcap once with a CPU profile and prints its top.
func profile(out io.Writer, w *workload, flowcap, dir, profDir string) error {
	if err := os.MkdirAll(profDir, 0o777); err != nil {
		return err
	}
	prof, err := filepath.Abs(filepath.Join(profDir, w.name+".prof"))
	if err != nil {
		return err
	}
	if _, err := measure([]string{flowcap, "read", "-q", "--cpuprofile", prof, "-o", dir, w.path}, dir); err != nil {
		return err
	}
	top, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=30", flowcap, prof).CombinedOutput()
	if err != nil {
		return fmt.Errorf("go tool pprof: %w\n%s", err, top)
	}
	fmt.Fprintf(out, "\nCPU profile of flowcap on %s (%s):\n%s", w.name, prof, top)
	return nil
}

// floorMain runs a floor in a child process, so that its rusage is its own.
func floorMain(args []string) int {
	var err error
	switch {
	case len(args) == 2 && args[0] == "-floor-read":
		err = floorRead(args[1])
	case len(args) == 4 && args[0] == "-floor-create":
		workers, perr := strconv.Atoi(args[3])
		if perr != nil || workers < 1 {
			err = fmt.Errorf("-floor-create: bad worker count %q", args[3])
			break
		}
		err = floorCreate(args[1], args[2], workers)
	default:
		err = errors.New("usage: flowbench -floor-read FILE | -floor-create SPEC DIR WORKERS")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "flowbench:", err)
		return 1
	}
	return 0
}

// floorRead reads and decodes every packet of a capture, as flowcap's
// reader does before it hands segments to the shards.
func floorRead(name string) error {
	src, err := capture.Open(name)
	if err != nil {
		return err
	}
	defer src.Close()
	dec := capture.NewDecoder()
	var seg reassembly.Segment
	var tcp, bytes int
	for {
		data, info, err := src.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if dec.Decode(data, info, &seg) == capture.OK {
			tcp++
			bytes += len(seg.Payload)
		}
	}
	if tcp == 0 {
		return errors.New("no TCP segment decoded")
	}
	return nil
}

// floorCreate creates the files listed in spec ("size name" lines) in
// dir, each with O_EXCL in one write, as the least any tool must do to
// leave them there; workers goroutines share the list, line by line in
// turn, as flowcap's shards share the connections.
func floorCreate(spec, dir string, workers int) error {
	dfd, err := unix.Open(dir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(dfd)
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() { errs[w] = createEvery(spec, dfd, w, workers) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// createEvery creates the files of lines first, first+step, ... of spec.
// Each worker reads the list itself, so that none holds it in memory.
func createEvery(spec string, dfd, first, step int) error {
	f, err := os.Open(spec)
	if err != nil {
		return err
	}
	defer f.Close()
	buf := make([]byte, 1<<20)
	for i := range buf {
		buf[i] = byte(i * 7)
	}
	sc := bufio.NewScanner(f)
	for line := 0; sc.Scan(); line++ {
		if line%step != first {
			continue
		}
		size, name, ok := strings.Cut(sc.Text(), " ")
		n, err := strconv.ParseInt(size, 10, 64)
		if !ok || err != nil {
			return fmt.Errorf("%s: bad line %q", spec, sc.Text())
		}
		fd, err := unix.Openat(dfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o666)
		if err != nil {
			return fmt.Errorf("create %s: %w", name, err)
		}
		for off := int64(0); off < n; {
			k, err := unix.Pwrite(fd, buf[:min(n-off, int64(len(buf)))], off)
			if err != nil {
				unix.Close(fd)
				return fmt.Errorf("write %s: %w", name, err)
			}
			off += int64(k)
		}
		if err := unix.Close(fd); err != nil {
			return err
		}
	}
	return sc.Err()
}
