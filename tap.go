package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/flowcap/flowcap/capture"
	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
)

// pcapTap is -w FILE: the packets that passed the filter, as a pcap file
// with nanosecond timestamps, which tcpdump, Wireshark and flowcap read.
// The link type is the live capture's, or that of the first packet read
// from files; a pcap file has only one, so packets of another link type
// (from a pcapng input that mixes them) are left out and counted. Readers
// share it under a lock, taken only with -w.
type pcapTap struct {
	name string
	mu   sync.Mutex
	f    *os.File
	bw   *bufio.Writer
	w    *pcapgo.Writer // nil until the first packet gives the link type
	lt   capture.LinkType
	left uint64 // packets of another link type, left out
	err  error  // the first write error; later packets are not written
}

// openTap creates (or truncates) the file; "-" is stdout. With a link type
// (a live capture) the file header is written at once; with 0 it waits for
// the first packet.
func openTap(name string, stdout io.Writer, lt capture.LinkType) (*pcapTap, error) {
	t := &pcapTap{name: name}
	if name == "-" {
		t.bw = bufio.NewWriterSize(stdout, 1<<16)
	} else {
		f, err := os.Create(name)
		if err != nil {
			return nil, fmt.Errorf("-w: %w", err)
		}
		t.f = f
		t.bw = bufio.NewWriterSize(f, 1<<20)
	}
	if lt != 0 {
		t.start(lt)
	}
	return t, nil
}

// start writes the file header.
func (t *pcapTap) start(lt capture.LinkType) {
	t.lt = lt
	t.w = pcapgo.NewWriterNanos(t.bw)
	t.err = t.w.WriteFileHeader(capture.LiveSnaplen, layers.LinkType(lt))
}

// write appends one packet. input names the source in a message.
func (t *pcapTap) write(input string, data []byte, info capture.Info) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.err != nil {
		return
	}
	if t.w == nil {
		if t.start(info.LinkType); t.err != nil {
			return
		}
	}
	if info.LinkType != t.lt {
		t.left++
		return
	}
	ci := gopacket.CaptureInfo{
		Timestamp:     time.Unix(0, info.Time),
		CaptureLength: len(data),
		Length:        max(info.WireLen, len(data)),
	}
	t.err = t.w.WritePacket(ci, data)
}

// close flushes and closes the file, and says what went wrong, if
// anything. A file that got no packet still gets a header (Ethernet, when
// nothing said otherwise), so that it reads as an empty capture.
func (t *pcapTap) close() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.w == nil {
		t.start(capture.LinkEthernet)
	}
	err := t.err
	if ferr := t.bw.Flush(); err == nil {
		err = ferr
	}
	if t.f != nil {
		if cerr := t.f.Close(); err == nil {
			err = cerr
		}
	}
	if err != nil {
		return fmt.Errorf("-w %s: %w", t.name, err)
	}
	return nil
}
