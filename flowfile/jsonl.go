package flowfile

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/fnv"
	"io"
	"net/netip"
	"os"
	"sync"
	"syscall"
	"time"

	"github.com/flowcap/flowcap/flowfile/httpbody"
	"github.com/flowcap/flowcap/reassembly"
)

// The schema of flows.jsonl (docs/flows-jsonl.md): one Flow per line.

// Flow is one TCP connection, both directions, when it has closed.
type Flow struct {
	UID         string  `json:"uid"`          // unique per connection: a hash of its addresses, ports, VLAN and first packet time
	CommunityID string  `json:"community_id"` // Community ID v1 of the 5-tuple, as Zeek and Suricata log it
	TS          string  `json:"ts"`           // first packet, RFC 3339 UTC, microseconds
	End         string  `json:"end"`          // last packet
	Duration    float64 `json:"duration"`     // seconds from ts to end
	Proto       string  `json:"proto"`        // "tcp"
	IP          int     `json:"ip"`           // 4 or 6
	VLAN        *int    `json:"vlan,omitempty"`
	Closed      string  `json:"closed"` // rst if either side reset, else quota if --max-disk cut either, else how the last open direction closed

	// Orig is the side that sent the SYN, or the first packet when no SYN
	// was seen; Resp the other. A side that sent nothing is left out.
	Orig *Side `json:"orig,omitempty"`
	Resp *Side `json:"resp,omitempty"`

	HTTP         []HTTPBody `json:"http,omitempty"` // --http: the responses found, in order
	HTTPUnlisted int        `json:"http_unlisted,omitempty"`
}

// Side is one direction of a connection: what one endpoint sent.
type Side struct {
	Addr         string `json:"addr"`
	Port         uint16 `json:"port"`
	MAC          string `json:"mac,omitempty"`
	Packets      uint64 `json:"packets"`
	WireBytes    uint64 `json:"wire_bytes"`    // the packets' lengths on the wire
	PayloadBytes uint64 `json:"payload_bytes"` // TCP payload carried, retransmissions included
	Bytes        int64  `json:"bytes"`         // length of the byte stream
	FileBytes    int64  `json:"file_bytes"`    // bytes in its flow files (fewer with -b)
	Holes        uint64 `json:"holes"`         // ranges of the stream no packet carried
	HoleBytes    uint64 `json:"hole_bytes"`
	RetransBytes uint64 `json:"retrans_bytes"`         // payload bytes received more than once
	DifferBytes  uint64 `json:"differ_bytes"`          // of those, bytes unlike the copy kept
	OutOfOrder   uint64 `json:"out_of_order"`          // segments before the end of the previous one
	Violations   uint64 `json:"violations"`            // SYNs with data, data before the ISN
	Closed       string `json:"closed"`                // fin, rst, timeout, gap, syn, evicted, end, quota
	QuotaBytes   int64  `json:"quota_bytes,omitempty"` // bytes --max-disk left out of its files
	Files        []File `json:"files,omitempty"`
}

// File is one flow file of a direction (a direction has several when
// its 4-tuple was reused or a stream restarted).
type File struct {
	Name     string `json:"name"`
	Size     int64  `json:"size"`
	MD5      string `json:"md5,omitempty"`
	Pcap     string `json:"pcap,omitempty"`      // -K
	HTTPStop string `json:"http_stop,omitempty"` // why body extraction stopped before the end
	HTTPErr  string `json:"http_error,omitempty"`
}

// HTTPBody is one response of a server's flow file.
type HTTPBody struct {
	Flow        string `json:"flow"` // the flow file it is in
	N           int    `json:"n"`    // its number there, NNN of the body file
	Status      int    `json:"status"`
	Method      string `json:"method,omitempty"` // the request's, from the client's flow
	URI         string `json:"uri,omitempty"`
	ContentType string `json:"content_type,omitempty"`
	Encoding    string `json:"encoding,omitempty"`
	Offset      *int64 `json:"offset,omitempty"` // of the body's first byte in the flow file
	WireBytes   int64  `json:"wire_bytes"`       // body bytes in the flow, chunk framing taken off
	File        string `json:"file,omitempty"`   // the body file; none for an empty body
	Size        int64  `json:"size,omitempty"`
	Cut         string `json:"cut,omitempty"` // hole, end, ratio, corrupt: the body is incomplete
	Error       string `json:"error,omitempty"`
}

// flowParts is the memory of one Flow: its sides and their files.
type flowParts struct {
	flow  Flow
	sides [2]Side
	files [2][2]File
}

// flowOf builds the Flow of c in fp.
func flowOf(c *conn, fp *flowParts) *Flow {
	// The originator: a SYN without ACK says; else the earliest packet.
	origin := c.streams[0]
	for _, s := range c.streams {
		if s.client && !origin.client || s.client == origin.client && s.first < origin.first {
			origin = s
		}
	}
	orig := origin.key
	first, last := origin.first, origin.last
	for _, s := range c.streams {
		first, last = min(first, s.first), max(last, s.last)
	}
	f := &fp.flow
	*f = Flow{
		UID:         uid(orig, origin.vlan, first),
		CommunityID: communityID(orig),
		TS:          timeString(first),
		End:         timeString(last),
		Duration:    float64((last-first)/1000) / 1e6,
		Proto:       "tcp",
		IP:          4,
	}
	if !orig.Src.Addr().Unmap().Is4() {
		f.IP = 6
	}
	if origin.vlan != reassembly.NoVLAN {
		v := int(origin.vlan & 0xfff)
		f.VLAN = &v
	}
	rst, quota := false, false
	for _, s := range c.streams {
		side, k := &f.Orig, 0
		if s.key != orig {
			side, k = &f.Resp, 1
		}
		if *side == nil {
			fp.sides[k] = Side{Addr: s.key.Src.Addr().Unmap().String(), Port: s.key.Src.Port(), Files: fp.files[k][:0]}
			*side = &fp.sides[k]
			if s.srcMAC != ([6]byte{}) {
				var mac [17]byte
				(*side).MAC = string(appendMAC(mac[:0], s.srcMAC))
			}
		}
		d := *side
		d.Packets += s.packets
		d.WireBytes += s.wireBytes
		d.PayloadBytes += s.payload
		d.Bytes += s.size
		d.FileBytes += s.fileSize
		d.Holes += s.holes
		d.HoleBytes += s.holeBytes
		d.RetransBytes += s.retransmitted
		d.DifferBytes += s.differed
		d.OutOfOrder += s.outOfOrder
		d.Violations += s.violations
		d.Closed = s.reason.String()
		if s.skipped > 0 {
			d.Closed = "quota" // the disk quota, not the connection, ended what was stored
			d.QuotaBytes += s.skipped
			quota = true
		}
		if s.name != "" {
			file := File{Name: s.name, Size: s.fileSize, MD5: s.md5, Pcap: s.pcap, HTTPErr: s.httpErr}
			if s.http != nil {
				file.HTTPStop = s.http.Stop
				f.HTTPUnlisted += s.http.Unlisted
				for _, b := range s.http.Bodies {
					f.HTTP = append(f.HTTP, httpOf(s.name, b))
				}
			}
			d.Files = append(d.Files, file)
		} else if s.pcap != "" {
			d.Files = append(d.Files, File{Pcap: s.pcap})
		}
		rst = rst || s.reason == reassembly.RSTSeen
	}
	f.Closed = c.streams[len(c.streams)-1].reason.String() // the stream that completed the connection
	switch {
	case rst:
		f.Closed = reassembly.RSTSeen.String()
	case quota:
		f.Closed = "quota"
	}
	return f
}

func httpOf(flow string, b httpbody.Body) HTTPBody {
	h := HTTPBody{
		Flow: flow, N: b.N, Status: b.Status, Method: b.Method, URI: b.URI,
		ContentType: b.ContentType, Encoding: b.Encoding, WireBytes: b.Wire,
		File: b.Name, Size: b.Size, Cut: b.Cut.String(), Error: b.Err,
	}
	if b.Offset >= 0 {
		off := b.Offset
		h.Offset = &off
	}
	return h
}

// uid names a connection: "C" and 16 hex digits of a hash of its
// originator's key, its VLAN and its first packet time. The same capture
// gives the same uids, whatever the number of shards.
func uid(orig reassembly.Key, vlan int32, first int64) string {
	var b [16 + 2 + 16 + 2 + 4 + 8]byte
	p := b[:0]
	for _, ap := range []netip.AddrPort{orig.Src, orig.Dst} {
		a := ap.Addr().As16()
		p = append(p, a[:]...)
		p = binary.BigEndian.AppendUint16(p, ap.Port())
	}
	p = binary.BigEndian.AppendUint32(p, uint32(vlan))
	p = binary.BigEndian.AppendUint64(p, uint64(first))
	h := fnv.New64a()
	h.Write(p)
	const digits = "0123456789abcdef"
	var out [17]byte
	out[0] = 'C'
	for i, v := 16, h.Sum64(); i > 0; i, v = i-1, v>>4 {
		out[i] = digits[v&15]
	}
	return string(out[:])
}

// timeString is appendTime's text as a string.
func timeString(ns int64) string {
	var b [40]byte
	return string(appendTime(b[:0], ns))
}

// communityID is the Community ID v1 (seed 0) of a TCP connection: the
// same for both directions, the same that Zeek, Suricata and Wireshark
// compute.
func communityID(k reassembly.Key) string {
	a, b := k.Src, k.Dst
	if b.Addr().Less(a.Addr()) || b.Addr() == a.Addr() && b.Port() < a.Port() {
		a, b = b, a
	}
	var raw [2 + 16 + 16 + 2 + 4]byte
	buf := append(raw[:0], 0, 0) // seed
	buf = append(buf, a.Addr().Unmap().AsSlice()...)
	buf = append(buf, b.Addr().Unmap().AsSlice()...)
	buf = append(buf, 6, 0) // TCP, padding
	buf = binary.BigEndian.AppendUint16(buf, a.Port())
	buf = binary.BigEndian.AppendUint16(buf, b.Port())
	sum := sha1.Sum(buf)
	var out [2 + 28]byte
	copy(out[:], "1:")
	base64.StdEncoding.Encode(out[2:], sum[:])
	return string(out[:])
}

// jsonl writes flows.jsonl: whole lines only, each written out within a
// second (for tail -f and log shippers), so the file is valid JSONL at
// any moment.
type jsonl struct {
	path  string // "" for a writer that is not a file (stdout)
	f     *os.File
	mu    sync.Mutex
	w     *bufio.Writer
	err   error
	stop  chan struct{}
	ticks sync.WaitGroup
}

func createJSONL(path string, stdout io.Writer) (*jsonl, error) {
	j := &jsonl{stop: make(chan struct{})}
	if path == "-" {
		j.w = bufio.NewWriterSize(stdout, 64<<10)
	} else {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o666)
		if err != nil {
			return nil, fmt.Errorf("flows: %w", err)
		}
		j.path, j.f, j.w = path, f, bufio.NewWriterSize(f, 64<<10)
	}
	j.ticks.Add(1)
	go j.flushEvery(time.Second)
	return j, nil
}

// add writes one line (with its newline); a line never spans a flush.
func (j *jsonl) add(line []byte) {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return
	}
	if len(line) > j.w.Available() && j.w.Buffered() > 0 {
		j.err = j.w.Flush()
	}
	if j.err == nil {
		_, j.err = j.w.Write(line)
	}
}

func (j *jsonl) flushEvery(d time.Duration) {
	defer j.ticks.Done()
	t := time.NewTicker(d)
	defer t.Stop()
	for {
		select {
		case <-j.stop:
			return
		case <-t.C:
			j.mu.Lock()
			if j.err == nil && j.w.Buffered() > 0 {
				j.err = j.w.Flush()
			}
			j.mu.Unlock()
		}
	}
}

// finish writes out and closes the file; with failed set it is renamed
// to .partial. It returns the name it is under ("" for stdout).
func (j *jsonl) finish(failed error) (string, error) {
	close(j.stop)
	j.ticks.Wait()
	err := j.err
	if ferr := j.w.Flush(); err == nil {
		err = ferr
	}
	if j.f == nil {
		return "", err
	}
	if cerr := j.f.Close(); err == nil {
		err = cerr
	}
	name := j.path
	if failed != nil || err != nil { // its own lines lost count too
		if rerr := os.Rename(j.path, j.path+partialSuffix); rerr == nil {
			name = j.path + partialSuffix
		} else if err == nil {
			err = rerr
		}
	}
	if err != nil {
		return name, fmt.Errorf("flows %s: %w", name, err)
	}
	return name, nil
}
