package flowfile

import (
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/flowcap/flowcap/flowfile/httpbody"
	"github.com/flowcap/flowcap/reassembly"
)

// ReportConfig says what a Reporter writes and runs for the closed flows.
type ReportConfig struct {
	Dir string // where the flow files are (Config.Dir)

	XML   string     // report.xml's path; "" writes none
	Flows string     // flows.jsonl's path; "" writes none, "-" writes to Stdout
	MD5   bool       // each flow file's MD5, in both reports (tcpflow -e md5)
	HTTP  bool       // HTTP response bodies out of the flows (tcpflow -e http)
	Raw   bool       // with HTTP: keep compressed bodies as they came (tcpflow -Z)
	Exec  [][]string // programs (with their arguments) run with each flow file's path
	// MaxExec caps the programs running at once; 0 means 4.
	MaxExec int
	// Reserve, if set, is asked for room on disk (Writer.ReserveDisk)
	// before a connection's text goes into report.xml and flows.jsonl,
	// and before each write of an HTTP body. When it says no, a
	// connection without a flow file is left out of both reports, and
	// counted; a body is cut there ("quota"). The reports' head and tail
	// are always written.
	Reserve func(n int64) bool

	Creator    Creator
	Stdout     io.Writer // flows.jsonl with "-"
	ExecStdout io.Writer // the programs' standard output; nil: Stdout
	Stderr     io.Writer // one line per failure of a program or a scanner; the programs' standard error
}

// ReportStats counts what a Reporter did.
type ReportStats struct {
	Connections uint64 // lines in flows.jsonl (connections reported)
	LeftOut     uint64 // connections left out of the reports for lack of room (ReportConfig.Reserve)
	Hashed      uint64 // flow files hashed
	Bodies      uint64 // HTTP body files written
	BodiesCut   uint64 // of the responses seen, bodies cut short (a hole, the end, a bomb, damage)
	ScanErrors  uint64 // flow files a scanner could not read, body files it could not write
	Ran         uint64 // programs run
	Failed      uint64 // of those, failed (not found, non-zero exit, killed)
}

// Reporter writes the reports of closed flows and runs the scanners and
// programs on their files. Its OnClose goes in Config.OnClose: the shards
// call it concurrently as streams close; Close ends everything.
//
// Both directions of a connection are reported together, once both are
// closed (the Stream whose PeerOpen is false completes the connection):
// one line of flows.jsonl, and a <fileobject> per direction in
// report.xml. Connections are scanned (MD5, HTTP) by a pool of workers,
// so that the shards only wait when the workers fall behind.
type Reporter struct {
	cfg   ReportConfig
	dir   string // reportDir(cfg.Dir)
	xml   *dfxml
	flows *jsonl
	exec  *runner

	pending [64]struct {
		mu    sync.Mutex
		conns map[uint64]*conn // by Session: connections with a direction still open
	}
	jobs    chan *conn // to the scanners; nil when there is nothing to scan
	workers sync.WaitGroup
	stderr  *lockedWriter

	conns, leftOut, hashed, bodies, cut, scanErrors atomic.Uint64
	closed                                          bool
}

// conn is one connection's closed streams, in the order they closed.
// Connections are pooled, and hold their first two streams and the
// flows.jsonl line's parts themselves: a flood of short connections then
// makes little garbage.
type conn struct {
	streams []*streamInfo
	ptrs    [2]*streamInfo
	own     [2]streamInfo
	flow    flowParts
}

var connPool = sync.Pool{New: func() any { return new(conn) }}

// newConn returns an empty connection from the pool.
func newConn() *conn {
	c := connPool.Get().(*conn)
	c.streams = c.ptrs[:0]
	return c
}

// addStream returns room for the connection's next stream.
func (c *conn) addStream() *streamInfo {
	var s *streamInfo
	if n := len(c.streams); n < len(c.own) {
		s = &c.own[n]
	} else {
		s = new(streamInfo)
	}
	c.streams = append(c.streams, s)
	return s
}

// free puts c back in the pool; nothing may use it after.
func (c *conn) free() {
	clear(c.ptrs[:])
	c.own = [2]streamInfo{}
	c.flow = flowParts{}
	c.streams = nil
	connPool.Put(c)
}

// streamInfo is what the reports keep of a closed stream.
type streamInfo struct {
	key            reassembly.Key
	vlan           int32
	srcMAC, dstMAC [6]byte
	first, last    int64
	client         bool

	packets, wireBytes, capBytes, payload uint64
	size                                  int64 // stream length (tcpflow's filesize)
	retransmitted, differed               uint64
	outOfOrder, violations                uint64
	holes, holeBytes                      uint64
	reason                                reassembly.Reason

	skipped  int64  // bytes --max-disk left out
	name     string // flow file, "" if none
	fileSize int64  // bytes in it
	pcap     string // -K: its pcap file
	holeList [][2]int64

	// Filled in by the scanners.
	md5     string
	http    *httpbody.Result
	httpErr string
}

// maxScanners caps the scanning workers: each holds up to three files
// open (the flow, its peer, a body), out of the descriptors the flow files
// leave (Config.MaxOpen's reserve).
const maxScanners = 8

// NewReporter creates the reports (report.xml under a temporary name) and
// starts the workers.
func NewReporter(cfg ReportConfig) (*Reporter, error) {
	if cfg.MaxExec <= 0 {
		cfg.MaxExec = 4
	}
	if cfg.Stdout == nil {
		cfg.Stdout = io.Discard
	}
	if cfg.Stderr == nil {
		cfg.Stderr = io.Discard
	}
	if cfg.ExecStdout == nil {
		cfg.ExecStdout = cfg.Stdout
	}
	if cfg.Creator.Start.IsZero() {
		cfg.Creator.Start = time.Now()
	}
	r := &Reporter{cfg: cfg, dir: reportDir(cfg.Dir), stderr: &lockedWriter{w: cfg.Stderr}}
	for i := range r.pending {
		r.pending[i].conns = map[uint64]*conn{}
	}
	var err error
	if cfg.XML != "" {
		if r.xml, err = createDFXML(cfg.XML, cfg.Creator); err != nil {
			return nil, err
		}
	}
	if cfg.Flows != "" {
		if r.flows, err = createJSONL(cfg.Flows, cfg.Stdout); err != nil {
			if r.xml != nil {
				r.xml.f.Close()
				os.Remove(r.xml.tmp)
			}
			return nil, err
		}
	}
	if len(cfg.Exec) > 0 {
		r.exec = newRunner(cfg.Exec, cfg.MaxExec, &lockedWriter{w: cfg.ExecStdout}, r.stderr)
	}
	if cfg.MD5 || cfg.HTTP {
		n := min(runtime.GOMAXPROCS(0), maxScanners)
		r.jobs = make(chan *conn, 4*n)
		for range n {
			r.workers.Add(1)
			go func() {
				defer r.workers.Done()
				for c := range r.jobs {
					r.scan(c)
					r.report(c)
				}
			}()
		}
	}
	return r, nil
}

// OnClose takes a closed stream (see Config.OnClose): name is its flow
// file ("" if none) and size the file's size.
func (r *Reporter) OnClose(st *reassembly.Stream, name string, size int64) {
	p := &r.pending[st.Session%uint64(len(r.pending))]
	p.mu.Lock()
	c := p.conns[st.Session]
	if c == nil {
		c = newConn()
	}
	s := c.addStream()
	*s = streamInfo{
		key: st.Key, vlan: st.VLAN, srcMAC: st.SrcMAC, dstMAC: st.DstMAC,
		first: st.First, last: st.Last, client: st.Client,
		packets: st.Packets, wireBytes: st.WireBytes, capBytes: st.CapBytes, payload: st.Payload,
		size: st.Size, retransmitted: st.Retransmitted, differed: st.Differed,
		outOfOrder: st.OutOfOrder, violations: st.Violations,
		holes: st.Holes, holeBytes: st.HoleBytes, reason: st.Reason,
		name: name, fileSize: size, pcap: PcapName(st), skipped: Skipped(st),
	}
	if r.cfg.HTTP && name != "" && st.Holes > 0 {
		s.holeList = st.AppendHoles(nil)
	}
	if r.exec != nil && name != "" {
		r.exec.queue(filepath.Join(r.cfg.Dir, name))
	}
	if st.PeerOpen {
		p.conns[st.Session] = c
		p.mu.Unlock()
		return
	}
	delete(p.conns, st.Session)
	p.mu.Unlock()
	r.done(c)
}

// done sends a complete connection to the scanners, or reports it.
func (r *Reporter) done(c *conn) {
	if r.jobs != nil && c.hasFile() {
		r.jobs <- c
		return
	}
	r.report(c)
}

func (c *conn) hasFile() bool {
	for _, s := range c.streams {
		if s.name != "" {
			return true
		}
	}
	return false
}

// report writes a connection to both reports.
func (r *Reporter) report(c *conn) {
	// One scratch buffer for both texts: the reports copy what they are
	// given, and a flood of short connections would otherwise make
	// garbage of several KiB per connection.
	bp := scratch.Get().(*[]byte)
	b := (*bp)[:0]
	if r.xml != nil {
		for _, s := range c.streams {
			b = fileObject(b, s, r.dir)
		}
	}
	xml := len(b)
	if r.flows != nil {
		b = append(flowOf(c, &c.flow).appendJSON(b), '\n')
	}
	onDisk := int64(len(b))
	if r.flows != nil && r.flows.path == "" { // stdout takes no room
		onDisk = int64(xml)
	}
	// A connection with a flow file is reported whatever the quota: every
	// file on disk is in the reports. Only connections open when the
	// quota was reached can have one, so the overdraft stays bounded.
	if r.cfg.Reserve == nil || r.cfg.Reserve(onDisk) || c.hasFile() {
		if r.xml != nil {
			r.xml.add(b[:xml])
		}
		if r.flows != nil {
			r.flows.add(b[xml:])
		}
		r.conns.Add(1)
	} else {
		r.leftOut.Add(1)
	}
	if cap(b) <= 64<<10 { // keep the odd huge one (many HTTP bodies) out of the pool
		*bp = b
	}
	scratch.Put(bp)
	c.free()
}

var scratch = sync.Pool{New: func() any { b := make([]byte, 0, 4<<10); return &b }}

// reportDir is what report.xml puts before a file's name: the output
// directory as filepath.Join writes it, as tcpflow names its files (no
// "./" for the current directory). Flow file names hold no slash, so
// joining it to each one is the same as a filepath.Join, without the
// allocation per file.
func reportDir(dir string) string {
	p := filepath.Join(dir, "x")
	return p[:len(p)-1]
}

// scan runs the scanners on the connection's files.
func (r *Reporter) scan(c *conn) {
	for _, s := range c.streams {
		if s.name == "" || s.fileSize == 0 {
			continue
		}
		if r.cfg.MD5 {
			if err := r.hash(s); err != nil {
				r.scanErrors.Add(1)
				fmt.Fprintf(r.stderr, "flowcap: md5: %v\n", err)
			}
		}
		if r.cfg.HTTP {
			if err := r.extract(c, s); err != nil {
				r.scanErrors.Add(1)
				s.httpErr = err.Error()
				fmt.Fprintf(r.stderr, "flowcap: http: %v\n", err)
			}
		}
	}
}

func (r *Reporter) hash(s *streamInfo) error {
	f, err := os.Open(filepath.Join(r.cfg.Dir, s.name))
	if err != nil {
		return err
	}
	defer f.Close()
	h := md5.New()
	if _, err := io.Copy(h, f); err != nil {
		return fmt.Errorf("read %s: %w", f.Name(), err)
	}
	s.md5 = hex.EncodeToString(h.Sum(nil))
	r.hashed.Add(1)
	return nil
}

// extract writes the HTTP bodies of s, if it holds responses, reading the
// requests from the other direction's file of the same rank.
func (r *Reporter) extract(c *conn, s *streamInfo) error {
	path := filepath.Join(r.cfg.Dir, s.name)
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	var magic [7]byte
	if n, _ := io.ReadFull(f, magic[:]); !httpbody.IsResponse(magic[:n]) {
		return nil
	}
	var req *httpbody.Flow
	if peer := c.peerOf(s); peer != nil && peer.name != "" {
		pf, err := os.Open(filepath.Join(r.cfg.Dir, peer.name))
		if err == nil {
			defer pf.Close()
			req = &httpbody.Flow{R: pf, Size: peer.fileSize, Holes: peer.holeList}
		}
	}
	opt := httpbody.Options{Decompress: !r.cfg.Raw, Create: r.createBody, Reserve: r.cfg.Reserve}
	res, err := httpbody.Extract(s.name, httpbody.Flow{R: f, Size: s.fileSize, Holes: s.holeList}, req, opt)
	s.http = &res
	r.bodies.Add(uint64(res.Written))
	for _, b := range res.Bodies {
		if b.Cut != httpbody.Whole {
			r.cut.Add(1)
		}
		if b.Cut == httpbody.Ratio {
			fmt.Fprintf(r.stderr, "flowcap: http: %s: %s: %s; kept up to there\n", path, b, b.Err)
		}
	}
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// createBody creates a body file beside the flow files, never following
// a link nor replacing a file.
func (r *Reporter) createBody(name string) (io.WriteCloser, error) {
	return os.OpenFile(filepath.Join(r.cfg.Dir, name), os.O_WRONLY|os.O_CREATE|os.O_EXCL|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o666)
}

// peerOf returns the stream of the other direction that s's requests are
// in: the one of the same rank among that direction's streams.
func (c *conn) peerOf(s *streamInfo) *streamInfo {
	rank := 0
	for _, o := range c.streams {
		if o == s {
			break
		}
		if o.key == s.key {
			rank++
		}
	}
	for _, o := range c.streams {
		if o.key == s.key.Reverse() {
			if rank == 0 {
				return o
			}
			rank--
		}
	}
	return nil
}

// Close reports the connections still waiting for a direction (a failed
// shard leaves some), waits for the scanners and the programs, and ends
// the reports. failed, if not nil, is why the flow data is incomplete:
// the reports are then left under their .partial names (report.xml saying
// why), and Close tells on Stderr. Call it once, after the last OnClose.
func (r *Reporter) Close(failed error, sum Summary) error {
	if r.closed {
		return errors.New("reporter closed twice")
	}
	r.closed = true
	for i := range r.pending {
		p := &r.pending[i]
		p.mu.Lock()
		for id, c := range p.conns {
			delete(p.conns, id)
			r.done(c)
		}
		p.mu.Unlock()
	}
	if r.jobs != nil {
		close(r.jobs)
		r.workers.Wait()
	}
	if r.exec != nil {
		r.exec.close()
	}
	var errs []error
	var left []string
	if r.xml != nil {
		name, err := r.xml.finish(sum, r.cfg.Creator.Start, failed)
		errs = append(errs, err)
		if failed != nil || err != nil {
			left = append(left, name)
		}
	}
	if r.flows != nil {
		name, err := r.flows.finish(failed)
		errs = append(errs, err)
		if (failed != nil || err != nil) && name != "" {
			left = append(left, name)
		}
	}
	if len(left) > 0 {
		fmt.Fprintf(r.stderr, "flowcap: reports left as %s: incomplete\n", strings.Join(left, " and "))
	}
	return errors.Join(errs...)
}

// Stats returns the counters; safe from any goroutine.
func (r *Reporter) Stats() ReportStats {
	st := ReportStats{
		Connections: r.conns.Load(),
		LeftOut:     r.leftOut.Load(),
		Hashed:      r.hashed.Load(),
		Bodies:      r.bodies.Load(),
		BodiesCut:   r.cut.Load(),
		ScanErrors:  r.scanErrors.Load(),
	}
	if r.exec != nil {
		st.Ran, st.Failed = r.exec.ran.Load(), r.exec.failed.Load()
	}
	return st
}

// lockedWriter serializes writes from several goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
