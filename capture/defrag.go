package capture

import (
	"net/netip"
	"slices"
)

// Limits of IP reassembly. A capture may hold fragments that never complete
// (a lost fragment, an attack), so what waits is bounded in number, bytes
// and capture time; when a limit is hit the oldest datagram goes first.
const (
	maxDatagrams      = 256     // datagrams in progress at once
	maxFragBytes      = 8 << 20 // their buffers together
	maxFragsPerDgram  = 256     // fragments of one datagram: 64 KiB in 1280-byte fragments is 52
	maxDatagram       = 65535   // an IP length field cannot say more
	fragTimeoutIPv4   = 30e9    // capture-time nanoseconds, Linux's ipfrag_time
	fragTimeoutIPv6   = 60e9    // RFC 8200
	maxFreeDatagrams  = 16      // finished datagrams kept for their buffers
	minFragBufferSize = 2048
)

// DefragStats counts what IP reassembly did.
type DefragStats struct {
	Fragments  uint64 // fragments of TCP datagrams taken in
	Datagrams  uint64 // datagrams completed
	TimedOut   uint64 // datagrams dropped incomplete: no fragment for the timeout
	Evicted    uint64 // datagrams dropped incomplete to stay within the limits
	InProgress int    // datagrams waiting for fragments now (lost if the input ends)
}

func (f *defragmenter) statistics() DefragStats {
	s := f.stats
	s.InProgress = len(f.active)
	return s
}

// fragKey identifies the datagram a fragment belongs to (RFC 791, 8200).
type fragKey struct {
	src, dst netip.Addr
	id       uint32
	proto    uint8 // IPv4's protocol; 0 for IPv6, whose 32-bit id is enough
}

// datagram is one datagram being put together from its fragments.
type datagram struct {
	key       fragKey
	first     int64  // capture time of its first fragment
	total     int    // length of the fragmentable part, -1 until the last fragment came
	next      uint8  // IPv6: the header that starts the fragmentable part
	truncated bool   // a fragment was cut short by the capture: its missing bytes are zeros
	frags     int    // fragments taken in
	wire, cap uint32 // the frames' lengths, summed
	have      []span // byte ranges received, sorted, merged
	buf       []byte
	held      int // bytes of buf counted against maxFragBytes
}

type span struct{ from, to int }

func (dg *datagram) payload() []byte { return dg.buf[:dg.total] }

// defragmenter reassembles IPv4 and IPv6 datagrams. Overlapping fragments
// are resolved first-wins: bytes already received are kept, a later fragment
// only fills gaps (an exact retransmission changes nothing).
type defragmenter struct {
	active []*datagram // oldest first
	free   []*datagram
	done   *datagram // the datagram completed last: its payload is out until the next call
	bytes  int       // buffer bytes held by active datagrams
	stats  DefragStats
}

// add takes in one fragment: off and n are its place and length in the
// datagram as its IP header says, data the bytes captured of it (maybe
// fewer than n). It returns the datagram if this fragment completed it (it
// stays valid until the next call), else Pending or BadFragment.
func (f *defragmenter) add(k fragKey, info Info, off, n int, more bool, data []byte, next uint8) (*datagram, Result) {
	f.expire(info.Time)
	end := off + n
	if n <= 0 || end > maxDatagram || more && n%8 != 0 {
		return nil, BadFragment
	}
	f.stats.Fragments++
	dg := f.find(k)
	if dg == nil {
		dg = f.start(k, info.Time)
	}
	switch {
	case dg.frags >= maxFragsPerDgram:
		f.drop(dg)
		f.stats.Evicted++
		return nil, BadFragment
	case !more && (dg.total >= 0 && dg.total != end || len(dg.have) > 0 && dg.have[len(dg.have)-1].to > end):
		return nil, BadFragment // a second, different end, or data beyond the end
	case more && dg.total >= 0 && end > dg.total:
		return nil, BadFragment
	}
	if !f.reserve(dg, end) {
		return nil, BadFragment
	}
	if !more {
		dg.total = end
	}
	if off == 0 {
		dg.next = next
	}
	if len(data) < n {
		dg.truncated = true
	}
	dg.fill(off, end, data)
	dg.frags++
	dg.wire += uint32(info.WireLen)
	dg.cap += uint32(info.CapLen)
	if dg.total < 0 || len(dg.have) != 1 || dg.have[0] != (span{0, dg.total}) {
		return nil, Pending
	}
	f.stats.Datagrams++
	f.drop(dg) // its buffer is not reused before the next call
	f.done = dg
	return dg, OK
}

// fill copies the bytes of [off, end) not received yet (first wins) and
// records the range. Bytes the capture did not keep are zeros.
func (dg *datagram) fill(off, end int, data []byte) {
	copyGap := func(from, to int) {
		c := copy(dg.buf[from:to], data[min(from-off, len(data)):min(to-off, len(data))])
		clear(dg.buf[from+c : to])
	}
	pos := off
	for _, s := range dg.have {
		if s.to <= pos {
			continue
		}
		if s.from >= end {
			break
		}
		if s.from > pos {
			copyGap(pos, s.from)
		}
		pos = s.to
		if pos >= end {
			break
		}
	}
	if pos < end {
		copyGap(pos, end)
	}
	// Merge [off, end) with the spans it touches.
	i := 0
	for i < len(dg.have) && dg.have[i].to < off {
		i++
	}
	j := i
	merged := span{off, end}
	for j < len(dg.have) && dg.have[j].from <= end {
		merged.from = min(merged.from, dg.have[j].from)
		merged.to = max(merged.to, dg.have[j].to)
		j++
	}
	dg.have = slices.Replace(dg.have, i, j, merged)
}

func (f *defragmenter) find(k fragKey) *datagram {
	for _, dg := range f.active {
		if dg.key == k {
			return dg
		}
	}
	return nil
}

func (f *defragmenter) start(k fragKey, now int64) *datagram {
	if len(f.active) >= maxDatagrams {
		f.drop(f.active[0])
		f.stats.Evicted++
	}
	var dg *datagram
	if n := len(f.free); n > 0 {
		dg, f.free = f.free[n-1], f.free[:n-1]
	} else {
		dg = new(datagram)
	}
	*dg = datagram{key: k, first: now, total: -1, have: dg.have[:0], buf: dg.buf[:0]}
	f.active = append(f.active, dg)
	return dg
}

// reserve makes dg's buffer hold end bytes, within the byte budget: older
// datagrams are dropped to make room; if that is not enough, dg itself.
func (f *defragmenter) reserve(dg *datagram, end int) bool {
	if end <= len(dg.buf) {
		return true
	}
	size := cap(dg.buf) // a reused buffer may be large enough already
	if end > size {
		size = min(maxDatagram, max(end, 2*size, minFragBufferSize))
	}
	if grow := size - dg.held; grow > 0 {
		for f.bytes+grow > maxFragBytes && f.active[0] != dg {
			f.drop(f.active[0])
			f.stats.Evicted++
		}
		if f.bytes+grow > maxFragBytes {
			f.drop(dg)
			f.stats.Evicted++
			return false
		}
		f.bytes += grow
		dg.held = size
	}
	if end > cap(dg.buf) {
		nb := make([]byte, end, size)
		copy(nb, dg.buf)
		dg.buf = nb
	}
	dg.buf = dg.buf[:end]
	return true
}

// expire drops the datagrams whose first fragment is older than the
// timeout at capture time now.
func (f *defragmenter) expire(now int64) {
	for i := 0; i < len(f.active); {
		dg := f.active[i]
		timeout := int64(fragTimeoutIPv6)
		if dg.key.src.Is4() {
			timeout = fragTimeoutIPv4
		}
		if now-dg.first > timeout {
			f.drop(dg)
			f.stats.TimedOut++
			continue
		}
		i++
	}
}

// drop takes dg out of the active list and keeps it for reuse.
func (f *defragmenter) drop(dg *datagram) {
	i := slices.Index(f.active, dg)
	if i < 0 {
		return
	}
	f.active = slices.Delete(f.active, i, i+1)
	f.bytes -= dg.held
	dg.held = 0
	if len(f.free) < maxFreeDatagrams {
		f.free = append(f.free, dg)
	}
}
