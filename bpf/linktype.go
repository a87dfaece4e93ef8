package bpf

import (
	"fmt"
	"strconv"
	"strings"
)

// Link types (pcap LINKTYPE_ values) the compiler supports.
const (
	LinkTypeNull      uint32 = 0   // BSD loopback, address family in host byte order
	LinkTypeEthernet  uint32 = 1   // EN10MB
	LinkTypeRaw       uint32 = 101 // raw IPv4 or IPv6
	LinkTypeLoop      uint32 = 108 // OpenBSD loopback, address family in network byte order
	LinkTypeLinuxSLL  uint32 = 113 // Linux cooked capture v1
	LinkTypeIPv4      uint32 = 228 // raw IPv4
	LinkTypeIPv6      uint32 = 229 // raw IPv6
	LinkTypeLinuxSLL2 uint32 = 276 // Linux cooked capture v2

	// linkTypeRawDLT is DLT_RAW on Linux, which some old files carry
	// instead of LINKTYPE_RAW.
	linkTypeRawDLT uint32 = 12
)

var linkTypeNames = []struct {
	name string
	lt   uint32
}{
	{"EN10MB", LinkTypeEthernet},
	{"LINUX_SLL", LinkTypeLinuxSLL},
	{"LINUX_SLL2", LinkTypeLinuxSLL2},
	{"RAW", LinkTypeRaw},
	{"IPV4", LinkTypeIPv4},
	{"IPV6", LinkTypeIPv6},
	{"NULL", LinkTypeNull},
	{"LOOP", LinkTypeLoop},
}

// LinkTypeByName returns the link type tcpdump's -y calls name (EN10MB,
// LINUX_SLL, LINUX_SLL2, RAW, IPV4, IPV6, NULL, LOOP, any case) or given as
// a number. It fails with ErrUnsupportedLinkType for link types the
// compiler does not handle.
func LinkTypeByName(name string) (uint32, error) {
	for _, n := range linkTypeNames {
		if strings.EqualFold(name, n.name) {
			return n.lt, nil
		}
	}
	if v, err := strconv.ParseUint(name, 0, 32); err == nil {
		if !supported(uint32(v)) {
			return 0, fmt.Errorf("link type %s: %w", name, ErrUnsupportedLinkType)
		}
		return uint32(v), nil
	}
	return 0, fmt.Errorf("link type %q: %w (known: EN10MB, LINUX_SLL, LINUX_SLL2, RAW, IPV4, IPV6, NULL, LOOP, or a number)", name, ErrUnsupportedLinkType)
}

func supported(lt uint32) bool {
	_, ok := layoutFor(lt)
	return ok
}

// linkTypeName names a link type for messages.
func linkTypeName(lt uint32) string {
	for _, n := range linkTypeNames {
		if n.lt == lt {
			return n.name
		}
	}
	if lt == linkTypeRawDLT {
		return "RAW"
	}
	return "link type " + strconv.FormatUint(uint64(lt), 10)
}

// layoutFor returns libpcap's offsets for a link type (init_linktype).
func layoutFor(lt uint32) (layout, bool) {
	switch lt {
	case LinkTypeEthernet:
		return layout{linkType: lt, typeOff: 12, linkPL: 14, nlNoSnap: 3}, true
	case LinkTypeLinuxSLL:
		return layout{linkType: lt, typeOff: 14, linkPL: 16}, true
	case LinkTypeLinuxSLL2:
		return layout{linkType: lt, typeOff: 0, linkPL: 20}, true
	case LinkTypeRaw, linkTypeRawDLT, LinkTypeIPv4, LinkTypeIPv6:
		return layout{linkType: lt}, true
	case LinkTypeNull, LinkTypeLoop:
		return layout{linkType: lt, typeOff: 0, linkPL: 4}, true
	}
	return layout{}, false
}
