package reassembly

import (
	"encoding/binary"
	"net/netip"
)

// Key names one direction of a TCP connection: data flows from Src to Dst.
// It is comparable, so it serves as a map key, and the zero Key is invalid.
type Key struct {
	Src, Dst netip.AddrPort
}

// Reverse returns the key of the opposite direction.
func (k Key) Reverse() Key { return Key{Src: k.Dst, Dst: k.Src} }

// Canonical returns the key with the lower endpoint first, the same for both
// directions of a connection, and whether k had to be reversed to get it.
func (k Key) Canonical() (Key, bool) {
	if k.Src.Compare(k.Dst) <= 0 {
		return k, false
	}
	return k.Reverse(), true
}

// Hash is a symmetric hash: k and k.Reverse() hash alike, so a connection's
// two directions pick the same shard. It does not allocate.
func (k Key) Hash() uint64 {
	return mix64(endpointHash(k.Src) + endpointHash(k.Dst))
}

func endpointHash(ap netip.AddrPort) uint64 {
	a := ap.Addr().As16()
	hi := binary.LittleEndian.Uint64(a[:8])
	lo := binary.LittleEndian.Uint64(a[8:])
	return mix64(hi ^ mix64(lo^uint64(ap.Port())<<48^0x9e3779b97f4a7c15))
}

// mix64 is the splitmix64 finalizer: cheap and well spread.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}
