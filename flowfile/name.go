package flowfile

import (
	"net/netip"
	"strconv"

	"github.com/flowcap/flowcap/reassembly"
)

// Name returns the file name tcpflow 1.6.1 gives a direction (its default
// template %A.%a-%B.%b%V%v%C%c): sender first, IPv4 octets as %03d,
// IPv6 as inet_ntop writes it, ports as %05d, "--" and the raw 802.1Q TCI
// when the first packet had one, and "c" and the count for the count-th
// file of the same name (count 0: none).
func Name(k reassembly.Key, vlan int32, count int) string {
	return string(AppendName(make([]byte, 0, 64), k, vlan, count))
}

// AppendName appends Name(k, vlan, count) to b.
func AppendName(b []byte, k reassembly.Key, vlan int32, count int) []byte {
	b = appendEndpoint(b, k.Src)
	b = append(b, '-')
	b = appendEndpoint(b, k.Dst)
	if vlan != reassembly.NoVLAN {
		b = append(b, "--"...)
		b = strconv.AppendInt(b, int64(vlan), 10)
	}
	if count > 0 {
		b = append(b, 'c')
		b = strconv.AppendInt(b, int64(count), 10)
	}
	return b
}

func appendEndpoint(b []byte, ap netip.AddrPort) []byte {
	a := ap.Addr()
	if a.Is4() {
		for i, o := range a.As4() {
			if i > 0 {
				b = append(b, '.')
			}
			b = appendPadded(b, int(o), 3)
		}
	} else {
		b = appendInet6(b, a.As16())
	}
	b = append(b, '.')
	return appendPadded(b, int(ap.Port()), 5)
}

func appendPadded(b []byte, v, width int) []byte {
	var d [5]byte
	for i := width - 1; i >= 0; i-- {
		d[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, d[:width]...)
}

// appendInet6 writes an IPv6 address as glibc's inet_ntop does: lower-case
// hex without leading zeros, the longest run of two or more zero groups
// (the first of equals) as "::", and the last 32 bits in dotted decimal
// for IPv4-mapped (::ffff:a.b.c.d) and IPv4-compatible (::a.b.c.d)
// addresses. netip differs on the last.
func appendInet6(b []byte, a [16]byte) []byte {
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
	for i := 0; i < 8; i++ {
		if best >= 0 && i >= best && i < best+bestLen {
			if i == best {
				b = append(b, ':')
			}
			continue
		}
		if i > 0 {
			b = append(b, ':')
		}
		if i == 6 && best == 0 && (bestLen == 6 || bestLen == 5 && w[5] == 0xffff) {
			for k, o := range a[12:] {
				if k > 0 {
					b = append(b, '.')
				}
				b = strconv.AppendInt(b, int64(o), 10)
			}
			return b
		}
		b = strconv.AppendUint(b, uint64(w[i]), 16)
	}
	if best >= 0 && best+bestLen == 8 {
		b = append(b, ':')
	}
	return b
}
