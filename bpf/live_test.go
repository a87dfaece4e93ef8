package bpf

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// What Options.Live compiles and refuses, link type by link type.
func TestLiveCompile(t *testing.T) {
	for _, c := range []struct {
		expr string
		lt   uint32
		err  string // "" compiles
	}{
		{"vlan 100 and tcp port 80", LinkTypeEthernet, ""},
		{"inbound and ifindex 2", LinkTypeEthernet, ""},
		{"outbound", LinkTypeRaw, ""},
		{"ifindex 3", LinkTypeLinuxSLL, ""},
		{"vlan", LinkTypeLinuxSLL2, "no VLAN support for LINUX_SLL2"},
		{"vlan", LinkTypeRaw, "no VLAN support for RAW"},
		{"link[0:2] = 0x800 and link[4:4] = 2 and link[10] = 4", LinkTypeLinuxSLL2, ""},
		{"link[0] = 8", LinkTypeLinuxSLL2, "cannot be filtered in the kernel"},
		{"ether[2] = 1", LinkTypeLinuxSLL2, "cannot be filtered in the kernel"},
		{"byte 12 = 1", LinkTypeLinuxSLL2, "cannot be filtered in the kernel"},
		{"link[ip[0] & 3] = 0", LinkTypeLinuxSLL2, "cannot be filtered in the kernel"},
		{"link[0x10000] = 0", LinkTypeLinuxSLL2, "cannot be filtered in the kernel"},
		{"link[14:2] = 0x800 and link[0:2] = 4", LinkTypeLinuxSLL, ""},
		{"link[4:4] = 2", LinkTypeLinuxSLL, "cannot be filtered in the kernel"},
		{"ip[0] = 0x45 and link[20] = 0x45", LinkTypeLinuxSLL2, ""},
	} {
		p, err := Compile(c.expr, c.lt, Options{Live: true})
		switch {
		case c.err == "" && err != nil:
			t.Errorf("%s %q: %v", linkTypeName(c.lt), c.expr, err)
		case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
			t.Errorf("%s %q: got %v, want %q", linkTypeName(c.lt), c.expr, err, c.err)
		case err != nil:
			checkLocated(t, c.expr, err)
		default:
			kernelRules(t, p.Raw())
			if !p.Live() {
				t.Errorf("%q: Live() is false", c.expr)
			}
		}
	}
}

// Without "vlan", "inbound", "outbound" or "ifindex", a live program for
// Ethernet or raw IP is the program for files.
func TestLiveSameAsFile(t *testing.T) {
	for _, lt := range []uint32{LinkTypeEthernet, LinkTypeRaw} {
		for _, expr := range []string{"tcp port 80", "host 10.0.0.1 or ip6 net 2001:db8::/32", "tcp[((tcp[12]&0xf0)>>2):4] = 0x47455420"} {
			live, err1 := Compile(expr, lt, Options{Live: true})
			file, err2 := Compile(expr, lt, Options{})
			if err1 != nil || err2 != nil {
				t.Fatalf("%q: %v, %v", expr, err1, err2)
			}
			if Format(live, Decimal) != Format(file, Decimal) {
				t.Errorf("%s %q: live program differs:\n%s", linkTypeName(lt), expr, Format(live, Listing))
			}
		}
	}
}

// The scratch word that holds the run-time offset is not shared with
// the arithmetic's temporaries, even when the arithmetic comes first: it
// must still be 0 when the path reaches "vlan".
func TestLiveVlanRegister(t *testing.T) {
	expr := "(ip[0] + ip[1] > ip[2] * 2 and ip[0] = 0) or (vlan and tcp port 80)"
	p, err := Compile(expr, LinkTypeEthernet, Options{Live: true})
	if err != nil {
		t.Fatal(err)
	}
	stores := 0
	for _, r := range p.Raw() {
		if r.Op == clsST && r.K == vlanReg {
			stores++
		}
	}
	if stores != 2 { // the 0 at the start, the 4 of a tag in the frame
		t.Errorf("%d stores to M[%d], want 2:\n%s", stores, vlanReg, Format(p, Listing))
	}
	stripped, tci, _ := untag(tcpFrameForTest([]uint16{0x8100, 5}, 80))
	m := kernelMeta{protocol: 0x0800, vlanPresent: true, vlanTCI: tci}
	if v, _ := runKernel(p.Raw(), stripped, uint32(len(stripped)), m); v == 0 {
		t.Errorf("tagged frame to port 80 rejected:\n%s", Format(p, Listing))
	}
	untagged := tcpFrameForTest(nil, 80)
	if v, _ := runKernel(p.Raw(), untagged, uint32(len(untagged)), kernelMeta{protocol: 0x0800}); v != 0 {
		t.Errorf("untagged frame taken:\n%s", Format(p, Listing))
	}
}

func TestLiveMatchPanics(t *testing.T) {
	p, err := Compile("vlan", LinkTypeEthernet, Options{Live: true})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "Options.Live") {
			t.Errorf("Match on a live program: got panic %v", r)
		}
	}()
	p.Match(make([]byte, 60), 60)
}

func TestLiveErrorsAreLocated(t *testing.T) {
	_, err := Compile("tcp and ether[2] = 1", LinkTypeLinuxSLL2, Options{Live: true})
	var se *SyntaxError
	if !errors.As(err, &se) || se.Offset != 8 {
		t.Fatalf("got %v, want an error at offset 8", err)
	}
}

// tcpFrameForTest is an Ethernet frame with tags (TPID, TCI pairs) around
// IPv4/TCP to port.
func tcpFrameForTest(tags []uint16, port uint16) []byte {
	f := make([]byte, 12)
	for _, v := range tags {
		f = append(f, byte(v>>8), byte(v))
	}
	f = append(f, 0x08, 0x00)
	ip := []byte{0x45, 0, 0, 40, 0, 1, 0x40, 0, 64, 6, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2}
	tcp := make([]byte, 20)
	tcp[2], tcp[3] = byte(port>>8), byte(port)
	tcp[12] = 5 << 4
	return append(append(f, ip...), tcp...)
}

func ExampleOptions_live() {
	// For the kernel's filter on a live Ethernet socket: the kernel has
	// taken the outer VLAN tag off (vlanp, vlan_tci); a tag it left in the
	// frame moves the offsets after it by 4 (M[0]).
	p, err := Compile("vlan 100 and ip", LinkTypeEthernet, Options{Live: true})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(Format(p, Listing))
	// Output:
	// (000) ld       #0x0
	// (001) st       M[0]
	// (002) ldb      [vlanp]
	// (003) jeq      #0x1             jt 11	jf 4
	// (004) ld       M[0]
	// (005) add      #4
	// (006) st       M[0]
	// (007) ldh      [12]
	// (008) jeq      #0x8100          jt 14	jf 9
	// (009) jeq      #0x88a8          jt 14	jf 10
	// (010) jeq      #0x9100          jt 14	jf 21
	// (011) ldb      [vlan_tci]
	// (012) and      #0xfff
	// (013) jeq      #0x64            jt 17	jf 21
	// (014) ldh      [14]
	// (015) and      #0xfff
	// (016) jeq      #0x64            jt 17	jf 21
	// (017) ldx      M[0]
	// (018) ldh      [x + 12]
	// (019) jeq      #0x800           jt 20	jf 21
	// (020) ret      #262144
	// (021) ret      #0
}
