package flowfile

import (
	"net/netip"
	"testing"

	"github.com/flowcap/flowcap/reassembly"
)

func key(src, dst string) reassembly.Key {
	return reassembly.Key{Src: netip.MustParseAddrPort(src), Dst: netip.MustParseAddrPort(dst)}
}

func TestName(t *testing.T) {
	tests := []struct {
		key   reassembly.Key
		vlan  int32
		count int
		want  string
	}{
		{key("192.168.1.2:80", "10.0.0.1:45103"), reassembly.NoVLAN, 0, "192.168.001.002.00080-010.000.000.001.45103"},
		{key("127.0.0.1:60684", "127.0.0.1:8000"), reassembly.NoVLAN, 0, "127.000.000.001.60684-127.000.000.001.08000"},
		{key("255.255.255.255:65535", "0.0.0.0:0"), reassembly.NoVLAN, 0, "255.255.255.255.65535-000.000.000.000.00000"},
		{key("192.168.1.2:80", "10.0.0.1:45103"), reassembly.NoVLAN, 1, "192.168.001.002.00080-010.000.000.001.45103c1"},
		{key("192.168.1.2:80", "10.0.0.1:45103"), reassembly.NoVLAN, 12, "192.168.001.002.00080-010.000.000.001.45103c12"},
		{key("10.0.0.1:80", "10.0.0.2:1"), 10, 0, "010.000.000.001.00080-010.000.000.002.00001--10"},
		{key("10.0.0.1:80", "10.0.0.2:1"), 40970, 2, "010.000.000.001.00080-010.000.000.002.00001--40970c2"},
		{key("10.0.0.1:80", "10.0.0.2:1"), 0, 0, "010.000.000.001.00080-010.000.000.002.00001--0"},
		{key("[2001:db8::1]:40000", "[2001:db8::2]:443"), reassembly.NoVLAN, 0, "2001:db8::1.40000-2001:db8::2.00443"},
		{key("[::1]:8002", "[::1]:37348"), reassembly.NoVLAN, 0, "::1.08002-::1.37348"},
		{key("[::ffff:1.2.3.4]:80", "[::1]:1"), reassembly.NoVLAN, 0, "::ffff:1.2.3.4.00080-::1.00001"},
	}
	for _, tt := range tests {
		if got := Name(tt.key, tt.vlan, tt.count); got != tt.want {
			t.Errorf("Name(%v, %d, %d) = %q, want %q", tt.key, tt.vlan, tt.count, got, tt.want)
		}
	}
}

// The expected strings are what glibc's inet_ntop prints (tcpflow calls it),
// taken with Python's socket.inet_ntop.
func TestInet6(t *testing.T) {
	tests := map[string]string{
		"::1":               "::1",
		"::2":               "::2",
		"::0102:0304":       "::1.2.3.4",
		"::ffff:1.2.3.4":    "::ffff:1.2.3.4",
		"::ffff:0:0":        "::ffff:0.0.0.0",
		"1::":               "1::",
		"::":                "::",
		"1:0:0:2::3":        "1:0:0:2::3",
		"1:0::2:0:0:3":      "1::2:0:0:3",
		"::ffff:0:1.2.3.4":  "::ffff:0:102:304",
		"0:0:0:0:0:1:0:0":   "::1:0:0",
		"2001:db8::1":       "2001:db8::1",
		"fe80::1:0:0:0":     "fe80::1:0:0:0",
		"::0:0:1:2":         "::0.1.0.2",
		"1:2:3:4:5:6:7:8":   "1:2:3:4:5:6:7:8",
		"1:0:3:4:5:6:7:8":   "1:0:3:4:5:6:7:8",
		"2001:DB8:0:0:1::1": "2001:db8::1:0:0:1",
		"64:ff9b::1.2.3.4":  "64:ff9b::102:304",
	}
	for in, want := range tests {
		if got := string(appendInet6(nil, netip.MustParseAddr(in).As16())); got != want {
			t.Errorf("%s: got %q, want %q", in, got, want)
		}
	}
}

func TestNameDoesNotAllocate(t *testing.T) {
	k := key("[2001:db8::1]:40000", "[2001:db8::2]:443")
	buf := make([]byte, 0, 128)
	if n := testing.AllocsPerRun(100, func() { buf = AppendName(buf[:0], k, 7, 3) }); n != 0 {
		t.Errorf("%v allocations", n)
	}
}
