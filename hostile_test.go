package main

// Hostile captures (issue 6, point 1): every capture of the corpus and a
// thousand damaged variants of the testdata captures run through the real
// binary, each in a child process with a time limit and its peak RSS
// measured. Each must end with exit 0, or exit 1 and one clear error line:
// no panic, no hang, no unbounded memory.

import (
	"encoding/binary"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	hostileN    = flag.Int("hostile.n", 1000, "damaged variants of the testdata captures TestMutatedCaptures runs")
	hostileSeed = flag.Uint64("hostile.seed", 1, "seed of TestMutatedCaptures' damage")
)

const (
	hostileTimeout = 20 * time.Second // per run: far beyond what any of them needs
	hostileMaxRSS  = 128 << 20        // per run: inputs of a few MiB at most
)

// sharedCorpus is the team's full corpus, next to the repository on a
// developer machine ($FLOWCAP_CORPUS overrides). Some of its captures may
// not be committed here (GPL-3.0, or no licence stated), so the test runs
// them only where the directory exists; "" when it does not.
func sharedCorpus() string {
	dir := os.Getenv("FLOWCAP_CORPUS")
	if dir == "" {
		dir = filepath.Join("..", "shared", "corpus")
	}
	if fi, err := os.Stat(dir); err != nil || !fi.IsDir() {
		return ""
	}
	return dir
}

// isCapture tells capture files from the READMEs and lists beside them.
func isCapture(name string) bool {
	switch filepath.Ext(name) {
	case ".md", ".tsv", ".txt", "":
		return false
	}
	return name != "SHA256SUMS"
}

// corpusFiles lists the captures of testdata/capture, testdata/corpus and,
// when present, the shared corpus (those not already in testdata).
func corpusFiles(t *testing.T) (files []string, shared int) {
	t.Helper()
	seen := map[string]bool{}
	dirs := []string{filepath.Join("testdata", "capture"), filepath.Join("testdata", "corpus")}
	if d := sharedCorpus(); d != "" {
		dirs = append(dirs, d)
	}
	for i, dir := range dirs {
		ents, err := os.ReadDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range ents {
			if e.IsDir() || !isCapture(e.Name()) || seen[e.Name()] {
				continue
			}
			seen[e.Name()] = true
			files = append(files, filepath.Join(dir, e.Name()))
			if i == 2 {
				shared++
			}
		}
	}
	return files, shared
}

// hostileRun is one input to run and how it was made.
type hostileRun struct {
	name string // for messages
	path string
	how  string // the damage done, for a variant
}

// runHostile runs flowcap read on each input, as many at once as there
// are CPUs, and fails the test for each that ends badly.
func runHostile(t *testing.T, runs []hostileRun) {
	outRoot := t.TempDir()
	var (
		mu       sync.Mutex
		failures int
		peak     int64
		peakName string
		exits    = map[int]int{}
	)
	work := make(chan int)
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				hr := runs[i]
				out := filepath.Join(outRoot, fmt.Sprint(i))
				r := execFlowcap(t, hostileTimeout, "read", "-o", out, hr.path)
				os.RemoveAll(out)
				why := checkOutcome(r)
				if why == "" && r.peakRSS > hostileMaxRSS {
					why = fmt.Sprintf("peak RSS %.1f MiB, over %d MiB", mib(r.peakRSS), hostileMaxRSS>>20)
				}
				mu.Lock()
				exits[r.code]++
				if r.peakRSS > peak {
					peak, peakName = r.peakRSS, hr.name
				}
				if why != "" {
					failures++
					if failures <= 20 {
						t.Errorf("%s%s: %s (exit %d, %v)\nstderr:\n%s", hr.name, hr.how, why, r.code, r.elapsed.Round(time.Millisecond), clip(r.stderr, 2000))
						keepFailure(t, hr)
					}
				}
				mu.Unlock()
			}
		}()
	}
	start := time.Now()
	for i := range runs {
		work <- i
	}
	close(work)
	wg.Wait()
	t.Logf("%d runs in %v (exit 0: %d, exit 1: %d); largest peak RSS %.1f MiB (%s); %d failed",
		len(runs), time.Since(start).Round(time.Millisecond), exits[0], exits[1], mib(peak), peakName, failures)
}

// keepFailure saves the input of a failed run outside the test's
// temporary directory, so that it can be replayed and made a testdata seed.
func keepFailure(t *testing.T, hr hostileRun) {
	data, err := os.ReadFile(hr.path)
	if err != nil {
		return
	}
	keep := filepath.Join(os.TempDir(), "flowcap-hostile-"+filepath.Base(hr.path))
	if os.WriteFile(keep, data, 0o644) == nil {
		t.Logf("input kept as %s", keep)
	}
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// Every capture of the corpus, the malformed ones included.
func TestCorpus(t *testing.T) {
	files, shared := corpusFiles(t)
	if shared == 0 {
		t.Logf("the shared corpus (../shared/corpus or $FLOWCAP_CORPUS) is not here: testdata's %d captures only", len(files))
	} else {
		t.Logf("%d captures from testdata, %d more from %s", len(files)-shared, shared, sharedCorpus())
	}
	var runs []hostileRun
	for i, f := range files {
		// A race-instrumented child takes a second to start: a sample.
		if raceEnabled && i%20 != 0 {
			continue
		}
		runs = append(runs, hostileRun{name: filepath.Base(f), path: f})
	}
	runHostile(t, runs)
}

// -hostile.n damaged variants (default 1000) of the testdata captures:
// bits flipped, cut short, record and block lengths set to huge values,
// ranges zeroed or copied elsewhere. The damage is a function of
// -hostile.seed and the variant's number, so every failure replays.
func TestMutatedCaptures(t *testing.T) {
	n := *hostileN
	if raceEnabled {
		n = min(n, 10) // a race-instrumented child takes a second to start
	}
	if testing.Short() {
		n = min(n, 100)
	}
	files, _ := corpusFiles(t)
	var bases []string
	for _, f := range files {
		if strings.HasPrefix(f, filepath.Join("testdata", "capture")+string(filepath.Separator)) {
			bases = append(bases, f)
		}
	}
	slices.Sort(bases)
	originals := make([][]byte, len(bases))
	for i, f := range bases {
		var err error
		if originals[i], err = os.ReadFile(f); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	runs := make([]hostileRun, n)
	for i := range runs {
		rng := rand.New(rand.NewPCG(*hostileSeed, uint64(i)))
		b := rng.IntN(len(bases))
		data, how := mutate(rng, originals[b])
		path := filepath.Join(dir, fmt.Sprintf("%04d-%s", i, filepath.Base(bases[b])))
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		runs[i] = hostileRun{name: fmt.Sprintf("variant %d (seed %d) of %s", i, *hostileSeed, filepath.Base(bases[b])), path: path, how: ": " + how}
	}
	runHostile(t, runs)
}

// mutate returns a damaged copy of a capture and what was done to it: one
// to three kinds of damage.
func mutate(rng *rand.Rand, orig []byte) ([]byte, string) {
	data := slices.Clone(orig)
	var how []string
	for range 1 + rng.IntN(3) {
		var what string
		switch rng.IntN(6) {
		case 0, 1:
			data, what = hugeLength(rng, data)
		case 2:
			data, what = flipBits(rng, data)
		case 3:
			at := rng.IntN(len(data) + 1)
			data, what = data[:at], fmt.Sprintf("cut at %d", at)
		case 4:
			lo := rng.IntN(len(data) + 1)
			hi := min(len(data), lo+1+rng.IntN(64))
			clear(data[lo:hi])
			what = fmt.Sprintf("zeroed [%d,%d)", lo, hi)
		case 5:
			from := rng.IntN(len(data) + 1)
			chunk := slices.Clone(data[from:min(len(data), from+1+rng.IntN(256))])
			at := rng.IntN(len(data) + 1)
			data = slices.Insert(data, at, chunk...)
			what = fmt.Sprintf("copied %d bytes from %d to %d", len(chunk), from, at)
		}
		how = append(how, what)
	}
	return data, strings.Join(how, ", ")
}

// flipBits flips 1 to 16 bits, half of the time within the first 256
// bytes, where the headers are.
func flipBits(rng *rand.Rand, data []byte) ([]byte, string) {
	if len(data) == 0 {
		return data, "nothing to flip"
	}
	k := 1 + rng.IntN(16)
	for range k {
		span := len(data)
		if rng.IntN(2) == 0 {
			span = min(span, 256)
		}
		data[rng.IntN(span)] ^= 1 << rng.IntN(8)
	}
	return data, fmt.Sprintf("%d bits flipped", k)
}

// hugeLengths are the values a damaged length field gets.
var hugeLengths = []uint32{0, 1, 7, 0xffffffff, 0x7fffffff, 0x80000000, 262144, 262145, 16<<20 + 1, 0x10000}

// hugeLength sets a length field of a random record to a huge (or absurd)
// value: a pcap record's captured or original length, a pcapng block's
// total length or an enhanced packet block's captured length, or the
// snaplen of the file header.
func hugeLength(rng *rand.Rand, data []byte) ([]byte, string) {
	fields := lengthFields(data)
	if len(fields) == 0 {
		return flipBits(rng, data)
	}
	f := fields[rng.IntN(len(fields))]
	v := hugeLengths[rng.IntN(len(hugeLengths))]
	if rng.IntN(4) == 0 {
		v = rng.Uint32()
	}
	f.order.PutUint32(data[f.off:], v)
	return data, fmt.Sprintf("%s at %d set to %d", f.what, f.off, v)
}

type lengthField struct {
	off   int
	what  string
	order binary.ByteOrder
}

// lengthFields finds the length fields of a pcap or pcapng file.
func lengthFields(data []byte) []lengthField {
	if len(data) < 24 {
		return nil
	}
	var fields []lengthField
	switch m := binary.LittleEndian.Uint32(data); {
	case m == 0xa1b2c3d4 || m == 0xa1b23c4d || m == 0xd4c3b2a1 || m == 0x4d3cb2a1:
		var order binary.ByteOrder = binary.LittleEndian
		if m == 0xd4c3b2a1 || m == 0x4d3cb2a1 {
			order = binary.BigEndian
		}
		fields = append(fields, lengthField{16, "snaplen", order})
		for off := 24; off+16 <= len(data); {
			fields = append(fields, lengthField{off + 8, "captured length", order}, lengthField{off + 12, "original length", order})
			off += 16 + int(order.Uint32(data[off+8:]))
		}
	case m == 0x0a0d0d0a:
		var order binary.ByteOrder = binary.LittleEndian
		for off := 0; off+12 <= len(data); {
			typ := binary.LittleEndian.Uint32(data[off:])
			if typ == 0x0a0d0d0a && binary.BigEndian.Uint32(data[off+8:]) == 0x1a2b3c4d {
				order = binary.BigEndian
			} else if typ == 0x0a0d0d0a {
				order = binary.LittleEndian
			}
			typ = order.Uint32(data[off:])
			fields = append(fields, lengthField{off + 4, "block total length", order})
			if typ == 6 && off+28 <= len(data) {
				fields = append(fields, lengthField{off + 20, "enhanced packet captured length", order})
			}
			n := int(order.Uint32(data[off+4:]))
			if n < 12 {
				break
			}
			off += n
		}
	}
	return fields
}
