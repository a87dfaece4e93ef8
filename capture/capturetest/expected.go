package capturetest

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// Expected returns the flow files a correct tcpflow-compatible reader
// writes for the scenario: file name -> bytes. Each direction that carried
// data has one file. Its offset 0 is the byte after the ISN, or, when the
// capture has no handshake, the lowest sequence number seen in that
// direction. Bytes no segment carried (holes) are zeros, up to the last
// byte carried; where copies overlap with different bytes, the one later
// in the capture wins. Keep-alive probes are not data.
func (s *Scenario) Expected() map[string][]byte { return s.expected(false) }

// ExpectedFirstWins is Expected with overlapping bytes resolved the other
// way: the first copy in the capture wins.
func (s *Scenario) ExpectedFirstWins() map[string][]byte { return s.expected(true) }

type piece struct {
	off  int64
	data []byte
}

func (s *Scenario) expected(firstWins bool) map[string][]byte {
	type dirKey struct {
		conn int32
		dir  Dir
	}
	var order []dirKey
	pieces := map[dirKey][]piece{}
	var st Stats
	err := s.schedule(&st, func(c *Conn, p *pkt) error {
		if p.kind != kindData {
			return nil
		}
		k := dirKey{p.conn, p.dir}
		if _, ok := pieces[k]; !ok {
			order = append(order, k)
		}
		b := p.alt
		if b == nil {
			b = make([]byte, p.n)
			c.data(int(p.dir)).Fill(b, p.off)
		}
		pieces[k] = append(pieces[k], piece{p.off, b})
		return nil
	})
	if err != nil {
		panic(err) // visit returns no error
	}
	used := map[string]int{}
	files := make(map[string][]byte, len(order))
	for _, k := range order {
		c := &s.Conns[k.conn]
		name := c.Name(k.dir)
		if n := used[name]; n > 0 {
			used[name]++
			name += "c" + strconv.Itoa(n)
		} else {
			used[name] = 1
		}
		files[name] = paint(pieces[k], c.Midstream, firstWins)
	}
	return files
}

// paint lays the pieces of one direction in capture order.
func paint(ps []piece, midstream, firstWins bool) []byte {
	lo, hi := ps[0].off, int64(0)
	for _, p := range ps {
		lo = min(lo, p.off)
		hi = max(hi, p.off+int64(len(p.data)))
	}
	if !midstream {
		lo = 0
	}
	out := make([]byte, hi-lo)
	var done []bool
	if firstWins {
		done = make([]bool, len(out))
	}
	for _, p := range ps {
		at := p.off - lo
		if !firstWins {
			copy(out[at:], p.data)
			continue
		}
		for i, b := range p.data {
			if !done[at+int64(i)] {
				out[at+int64(i)] = b
				done[at+int64(i)] = true
			}
		}
	}
	return out
}

// Name returns the tcpflow file name of one direction of the connection,
// without the connection counter (c1, c2...) a reused 4-tuple gets:
// sender first, IPv4 octets as %03d, IPv6 as inet_ntop writes it, ports
// as %05d, and "--TCI" when the frame's outer tag is 802.1Q (0x8100).
func (c *Conn) Name(d Dir) string {
	src, dst := endpoints(c, d)
	name := addrName(src.Addr()) + "." + fmt.Sprintf("%05d", src.Port()) + "-" +
		addrName(dst.Addr()) + "." + fmt.Sprintf("%05d", dst.Port())
	if c.Link == Ethernet && len(c.VLAN) > 0 && (c.VLAN[0].TPID == 0 || c.VLAN[0].TPID == 0x8100) {
		name += "--" + strconv.Itoa(int(c.VLAN[0].TCI))
	}
	return name
}

func addrName(a netip.Addr) string {
	if a.Is4() {
		b := a.As4()
		return fmt.Sprintf("%03d.%03d.%03d.%03d", b[0], b[1], b[2], b[3])
	}
	return ntop6(a.As16())
}

// ntop6 formats an IPv6 address as glibc's inet_ntop does: the first
// longest run of two or more zero words as "::", lowercase hex without
// leading zeros, and the last 32 bits as a dotted quad for IPv4-compatible
// (::a.b.c.d) and IPv4-mapped (::ffff:a.b.c.d) addresses.
func ntop6(a [16]byte) string {
	var w [8]uint16
	for i := range w {
		w[i] = uint16(a[2*i])<<8 | uint16(a[2*i+1])
	}
	best, bestLen := -1, 0
	for i := 0; i < 8; {
		if w[i] != 0 {
			i++
			continue
		}
		j := i
		for j < 8 && w[j] == 0 {
			j++
		}
		if j-i > bestLen {
			best, bestLen = i, j-i
		}
		i = j
	}
	if bestLen < 2 {
		best = -1
	}
	var sb strings.Builder
	for i := 0; i < 8; i++ {
		if i == best {
			sb.WriteByte(':')
			i += bestLen - 1
			if i == 7 {
				sb.WriteByte(':')
			}
			continue
		}
		if i > 0 {
			sb.WriteByte(':')
		}
		if i == 6 && best == 0 && (bestLen == 6 || (bestLen == 5 && w[5] == 0xffff)) {
			fmt.Fprintf(&sb, "%d.%d.%d.%d", a[12], a[13], a[14], a[15])
			break
		}
		sb.WriteString(strconv.FormatUint(uint64(w[i]), 16))
	}
	return sb.String()
}
