package bpf

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"golang.org/x/net/bpf"
)

func TestLexer(t *testing.T) {
	for _, c := range []struct {
		in   string
		want string // kind:text ...
	}{
		{"tcp port 80", "kw:tcp kw:port num:80"},
		{"tcp-syn|tcp-fin", "num:tcp-syn | num:tcp-fin"},
		{"tcpflags tcp-synx", "num:tcpflags id:tcp-synx"},
		{"5-3", "id:5-3"},                        // as flex: the longest match is a name
		{"5 - 3", "num:5 - num:3"},               // spaced, arithmetic
		{"001122334455", "eid:001122334455"},     // 12 hex digits are a MAC address
		{"0011.2233.4455", "eid:0011.2233.4455"}, // not an IPv4 address
		{"0:1:2:3:4:5", "eid:0:1:2:3:4:5"},
		{"aa-bb-cc-dd-ee-ff", "eid:aa-bb-cc-dd-ee-ff"},
		{"10.0.0.1/8", "hid:10.0.0.1 / num:8"},
		{"192.168", "hid:192.168"},
		{"10.0.0.1.5", "id:10.0.0.1.5"},
		{"fe80::1 ::1 :: 1:2:3:4:5:6:7:8", "hid6:fe80::1 hid6:::1 hid6::: hid6:1:2:3:4:5:6:7:8"},
		{"::ffff:1.2.3.4", "hid6:::ffff:1.2.3.4"},
		{"tcp[13:1]", "kw:tcp [ num:13 : num:1 ]"},
		{"a&&b||!c", "id:a && id:b || ! id:c"},
		{"and or not andy", "and or ! id:andy"},
		{">= <= != == = < > << >>", ">= <= != = = < > << >>"},
		{"\\tcp", "id:\\tcp"},
		{"0x1F 010 0", "num:0x1F num:010 num:0"},
		{"ether proto \\ip6", "kw:ether kw:proto id:\\ip6"},
		{"length len", "kw:length kw:len"},
	} {
		var got []string
		for _, tk := range lex(c.in) {
			var s string
			switch tk.kind {
			case tEOF:
				continue
			case tKeyword:
				s = "kw:" + tk.text
			case tID:
				s = "id:" + tk.text
			case tNum:
				s = "num:" + tk.text
			case tHID:
				s = "hid:" + tk.text
			case tHID6:
				s = "hid6:" + tk.text
			case tEID:
				s = "eid:" + tk.text
			case tErr:
				s = "err:" + tk.msg
			case tNot:
				s = "!"
			default:
				s = tk.text
				if tk.kind == tAnd {
					s = "&&"
				}
				if tk.kind == tOr {
					s = "||"
				}
				if tk.text == "and" {
					s = "and"
				}
				if tk.text == "or" {
					s = "or"
				}
				if tk.kind == tEQ {
					s = "="
				}
			}
			got = append(got, s)
		}
		if g := strings.Join(got, " "); g != c.want {
			t.Errorf("lex(%q) = %s, want %s", c.in, g, c.want)
		}
	}
}

func TestNumbers(t *testing.T) {
	for _, c := range []struct {
		in  string
		v   uint32
		err string
	}{
		{"80", 80, ""}, {"0x50", 0x50, ""}, {"0120", 80, ""}, {"4294967295", 0xffffffff, ""},
		{"4294967296", 0, "overflows 32 bits"}, {"0x100000000", 0, "overflows 32 bits"},
		{"080", 0, "non-octal digit"},
	} {
		v, msg := parseNum(c.in)
		if v != c.v || !strings.Contains(msg, c.err) || (c.err == "") != (msg == "") {
			t.Errorf("parseNum(%q) = %d, %q; want %d, %q", c.in, v, msg, c.v, c.err)
		}
	}
}

func TestSyntaxErrors(t *testing.T) {
	for _, c := range []struct {
		expr   string
		offset int
		msg    string
	}{
		{"tcp port and host 10.0.0.1", 9, "expected a port number or name after 'port', found 'and'"},
		{"tcp port", 8, "expected a port number or name after 'port', found the end of the expression"},
		{"host", 4, "expected a host address after 'host'"},
		{"net", 3, "expected a network"},
		{"portrange x", 10, "unknown port in range 'x'"},
		{"port 80 or", 10, "expected a filter primitive"},
		{"(tcp", 0, "unbalanced '('"},
		{"tcp)", 3, "unbalanced ')'"},
		{"tcp tcp", 4, "expected 'and', 'or' or the end of the expression, found 'tcp'"},
		{"10.0.0.1", 0, "expected a qualifier"},
		{"port 70000", 5, "illegal port number 70000 > 65535"},
		{"port bogus", 5, "unknown port 'bogus'"},
		{"udp port http", 9, "port 'http' is tcp"},
		{"tcp port ntp", 9, "port 'ntp' is udp"},
		{"host sundown", 5, "host names are not resolved"},
		{"gateway snup", 0, "'gateway' is not supported"},
		{"ip protochain 6", 3, "'protochain' is not supported"},
		{"mpls 100", 0, "'mpls' is not supported"},
		{"tcp and geneve", 8, "'geneve' is not supported"},
		{"ip6 host 10.0.0.1", 9, "'ip6' modifier applied to ip host"},
		{"host 10.0.0.0/8", 5, "Mask syntax for networks only"},
		{"net 10.0.0.1/8", 4, "non-network bits set"},
		{"ip[0:3] = 1", 5, "data size must be 1, 2, or 4"},
		{"ip[0] / 0 = 1", 0, "division by zero"},
		{"ip[0] << 32 = 1", 0, "shift by more than 31 bits"},
		{"vlan 5000", 0, "VLAN tag 5000 greater than maximum 4095"},
		{"ether host 00:11:22", 11, "bogus ethernet address"},
		{"ip[0] = 5-3", 8, "expected a number"},
		{"port 080", 5, "non-octal digit"},
		{"tcp # comment", 4, "unexpected character '#'"},
		{"host 1::2::3", 5, "bogus ethernet address 1::2::"}, // as flex: the longest match
		{"host 1:2:3:4:5:6:7:8:9", 5, "bogus ethernet address"},
		{"host ::1:2:3:4:5:6:7:8", 20, "expected 'and', 'or' or the end of the expression, found ':'"},
		{"ip proto tcp", 9, "expected a protocol number or name after 'proto', found 'tcp'"},
		{strings.Repeat("(", 300) + "tcp" + strings.Repeat(")", 300), 0, "nested too deeply"},
	} {
		_, err := NewFilter(c.expr, Options{})
		if err == nil {
			// Link-dependent errors come from the code generator.
			_, err = Compile(c.expr, LinkTypeEthernet, Options{})
		}
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("%q: got %v, want a *SyntaxError", c.expr, err)
			continue
		}
		if !strings.Contains(se.Msg, c.msg) {
			t.Errorf("%q: message %q, want %q", c.expr, se.Msg, c.msg)
		}
		if c.offset != 0 && se.Offset != c.offset || c.offset == 0 && se.Offset > 0 && !strings.Contains(c.msg, "nested") {
			t.Errorf("%q: offset %d, want %d", c.expr, se.Offset, c.offset)
		}
	}
}

func TestSyntaxErrorCaret(t *testing.T) {
	_, err := Compile("tcp port and host 10.0.0.1", LinkTypeEthernet, Options{})
	want := "filter: expected a port number or name after 'port', found 'and'\n" +
		"    tcp port and host 10.0.0.1\n" +
		"             ^"
	if err == nil || err.Error() != want {
		t.Errorf("got\n%v\nwant\n%s", err, want)
	}
}

func TestLinkDependentErrors(t *testing.T) {
	for _, c := range []struct {
		expr string
		lt   uint32
		msg  string
	}{
		{"vlan and tcp", LinkTypeRaw, "no VLAN support for RAW"},
		{"ether host 00:11:22:33:44:55", LinkTypeLinuxSLL, "ethernet addresses are supported only on Ethernet"},
		{"ether broadcast", LinkTypeNull, "not a broadcast link"},
		{"multicast", LinkTypeLinuxSLL2, "link-layer multicast filters"},
		{"inbound", LinkTypeEthernet, "inbound/outbound not supported on EN10MB"},
		{"ifindex 3", LinkTypeLinuxSLL, "ifindex is not supported on LINUX_SLL"},
	} {
		_, err := Compile(c.expr, c.lt, Options{})
		var se *SyntaxError
		if !errors.As(err, &se) || !strings.Contains(se.Msg, c.msg) {
			t.Errorf("%q on %s: got %v, want %q", c.expr, linkTypeName(c.lt), err, c.msg)
		}
	}
	if _, err := Compile("tcp", 105, Options{}); !errors.Is(err, ErrUnsupportedLinkType) {
		t.Errorf("802.11: got %v, want ErrUnsupportedLinkType", err)
	}
}

func TestLinkTypeByName(t *testing.T) {
	for name, want := range map[string]uint32{
		"EN10MB": 1, "en10mb": 1, "LINUX_SLL": 113, "LINUX_SLL2": 276, "RAW": 101, "IPV4": 228,
		"IPV6": 229, "NULL": 0, "LOOP": 108, "1": 1, "228": 228, "12": 12, "0x65": 101,
	} {
		got, err := LinkTypeByName(name)
		if err != nil || got != want {
			t.Errorf("LinkTypeByName(%q) = %d, %v; want %d", name, got, err, want)
		}
	}
	for _, name := range []string{"IEEE802_11", "105", "ether", ""} {
		if _, err := LinkTypeByName(name); !errors.Is(err, ErrUnsupportedLinkType) {
			t.Errorf("LinkTypeByName(%q): got %v, want ErrUnsupportedLinkType", name, err)
		}
	}
}

func TestPortsExpr(t *testing.T) {
	for _, c := range []struct{ in, want, err string }{
		{"80", "(port 80)", ""},
		{"80,443", "(port 80 or port 443)", ""},
		{"80,443:8000-8080", "(port 80 or port 443 or portrange 8000-8080)", ""},
		{" 22 , 23 ", "(port 22 or port 23)", ""},
		{"", "", "no ports"},
		{",:", "", "no ports"},
		{"http", "", "not a port number"},
		{"70000", "", "not a port number"},
		{"90-80", "", "runs backwards"},
		{"80-", "", "not a port number"},
	} {
		got, err := PortsExpr(c.in)
		if got != c.want || (err == nil) != (c.err == "") || err != nil && !strings.Contains(err.Error(), c.err) {
			t.Errorf("PortsExpr(%q) = %q, %v; want %q, %q", c.in, got, err, c.want, c.err)
		}
		if err == nil {
			if _, err := Compile(got, LinkTypeEthernet, Options{}); err != nil {
				t.Errorf("PortsExpr(%q) does not compile: %v", c.in, err)
			}
		}
	}
}

// eth builds an Ethernet frame around an IPv4 header with dst.
func ipv4Frame(dst [4]byte) []byte {
	f := make([]byte, 14+20)
	binary.BigEndian.PutUint16(f[12:], 0x0800)
	f[14] = 0x45
	f[23] = 17
	copy(f[30:], dst[:])
	return f
}

// TestIPMulticast pins down the choice where libpcap versions disagree:
// 224.0.0.0/4, as libpcap 1.11, not libpcap 1.10's ip[16] >= 224.
func TestIPMulticast(t *testing.T) {
	p, err := Compile("ip multicast", LinkTypeEthernet, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// tcpdump 4.99.3 / libpcap 1.10.3: ldh [12]; jeq #0x800; ldb [30]; jge #0xe0.
	old, _ := newVM([]bpf.RawInstruction{
		{Op: 0x28, K: 12}, {Op: 0x15, Jt: 0, Jf: 3, K: 0x800}, {Op: 0x30, K: 30},
		{Op: 0x35, Jt: 0, Jf: 1, K: 0xe0}, {Op: 0x06, K: 262144}, {Op: 0x06},
	})
	for _, c := range []struct {
		dst       [4]byte
		want, old bool
	}{
		{[4]byte{224, 0, 0, 1}, true, true},
		{[4]byte{239, 255, 255, 250}, true, true},
		{[4]byte{240, 0, 0, 1}, false, true},
		{[4]byte{255, 255, 255, 255}, false, true},
		{[4]byte{10, 0, 0, 1}, false, false},
	} {
		f := ipv4Frame(c.dst)
		if got := p.Match(f, len(f)); got != c.want {
			t.Errorf("ip multicast, dst %v: %v, want %v", c.dst, got, c.want)
		}
		if got := old.run(f, uint32(len(f))) != 0; got != c.old {
			t.Errorf("libpcap 1.10's ip multicast, dst %v: %v, want %v", c.dst, got, c.old)
		}
	}
}

// TestNullByteOrder: NULL headers are accepted in either byte order.
func TestNullByteOrder(t *testing.T) {
	p4, _ := Compile("ip", LinkTypeNull, Options{})
	p6, _ := Compile("ip6", LinkTypeNull, Options{})
	for _, c := range []struct {
		af     uint32
		bo     binary.AppendByteOrder
		v4, v6 bool
	}{
		{2, binary.LittleEndian, true, false}, {2, binary.BigEndian, true, false},
		{24, binary.LittleEndian, false, true}, {28, binary.BigEndian, false, true},
		{30, binary.LittleEndian, false, true}, {10, binary.LittleEndian, false, false},
		{0x02000002, binary.LittleEndian, false, false},
	} {
		pkt := c.bo.AppendUint32(nil, c.af)
		pkt = append(pkt, make([]byte, 40)...)
		if got := p4.Match(pkt, len(pkt)); got != c.v4 {
			t.Errorf("ip, AF %d %v: %v, want %v", c.af, c.bo, got, c.v4)
		}
		if got := p6.Match(pkt, len(pkt)); got != c.v6 {
			t.Errorf("ip6, AF %d %v: %v, want %v", c.af, c.bo, got, c.v6)
		}
	}
}

func TestEmptyAcceptsAll(t *testing.T) {
	for _, expr := range []string{"", "  ", "\t\n"} {
		p, err := Compile(expr, LinkTypeEthernet, Options{Snaplen: 1500})
		if err != nil {
			t.Fatal(err)
		}
		if raw := p.Raw(); len(raw) != 1 || raw[0] != (bpf.RawInstruction{Op: clsRET | retK, K: 1500}) {
			t.Errorf("%q: %v, want one ret #1500", expr, raw)
		}
		if !p.Match(nil, 0) {
			t.Errorf("%q does not accept an empty packet", expr)
		}
	}
}

func TestSnaplen(t *testing.T) {
	p, _ := Compile("tcp", LinkTypeRaw, Options{Snaplen: 96})
	raw := p.Raw()
	if raw[len(raw)-2] != (bpf.RawInstruction{Op: clsRET | retK, K: 96}) {
		t.Errorf("accept returns %v, want 96", raw[len(raw)-2])
	}
	p, _ = Compile("tcp", LinkTypeRaw, Options{})
	raw = p.Raw()
	if raw[len(raw)-2].K != DefaultSnaplen {
		t.Errorf("accept returns %d, want %d", raw[len(raw)-2].K, DefaultSnaplen)
	}
}

// kernelRules checks what the kernel's bpf_check_classic requires (and,
// for a program without ancillary loads, that both VMs take it).
func kernelRules(t testing.TB, raw []bpf.RawInstruction) {
	t.Helper()
	if len(raw) == 0 || len(raw) > 4096 {
		t.Fatalf("%d instructions", len(raw))
	}
	if err := checkLive(raw); err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(raw, func(r bpf.RawInstruction) bool { return r.Op&0x07 == clsLD && r.Op&0xe0 == modeABS && r.K >= skfOff }) {
		return
	}
	if _, err := newVM(raw); err != nil {
		t.Fatal(err)
	}
	if _, err := xnetVM(raw); err != nil {
		t.Fatal(err)
	}
}

func TestLongJumps(t *testing.T) {
	p, err := Compile(longExpr(40), LinkTypeEthernet, Options{})
	if err != nil {
		t.Fatal(err)
	}
	raw := p.Raw()
	kernelRules(t, raw)
	far := 0
	for i, r := range raw {
		if r.Op == clsJMP|opJA && r.K > maxCondJmp {
			far++
		}
		if r.Op&0x07 == clsJMP && r.Op != clsJMP|opJA && (i+1+int(r.Jt) >= len(raw) || i+1+int(r.Jf) >= len(raw)) {
			t.Fatalf("instruction %d jumps out", i)
		}
	}
	if len(raw) < 600 || far == 0 {
		t.Errorf("%d instructions, %d long jumps: the test needs a program with far jumps", len(raw), far)
	}
	// Host 10.0.0.39 and port 1039 is the last term: far from the start.
	f := ipv4Frame([4]byte{10, 0, 0, 39})
	f[23] = 6
	f = append(f, make([]byte, 20)...)
	binary.BigEndian.PutUint16(f[36:], 1039)
	if !p.Match(f, len(f)) {
		t.Error("the last term does not match")
	}
	binary.BigEndian.PutUint16(f[36:], 1038)
	if p.Match(f, len(f)) {
		t.Error("a port of another term matches")
	}
}

func TestTooLong(t *testing.T) {
	var terms []string
	for i := 0; i < 400; i++ {
		terms = append(terms, fmt.Sprintf("(host 10.0.%d.%d and port %d)", i/256, i%256, 1000+i))
	}
	_, err := Compile(strings.Join(terms, " or "), LinkTypeEthernet, Options{})
	if !errors.Is(err, ErrTooLong) {
		t.Fatalf("got %v, want ErrTooLong", err)
	}
	if !strings.Contains(err.Error(), "at most 4096") {
		t.Errorf("message %q does not say the limit", err)
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	p, _ := Compile("tcp[((tcp[12]&0xf0)>>2):4] = 0x47455420 or port 80 and host 10.0.0.1", LinkTypeEthernet, Options{})
	f := ipv4Frame([4]byte{10, 0, 0, 1})
	if n := testing.AllocsPerRun(100, func() { p.Match(f, len(f)) }); n != 0 {
		t.Errorf("Match allocates %v times", n)
	}
}

func TestFilterAnd(t *testing.T) {
	a, err := NewFilter("vlan 100", Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := NewFilter("tcp port 80", Options{})
	empty, _ := NewFilter("", Options{})
	both := a.And(empty).And(b)
	if got := both.String(); got != "(vlan 100) and (tcp port 80)" {
		t.Errorf("String() = %q", got)
	}
	p1, err := both.Program(LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	p2, _ := Compile("vlan 100 and tcp port 80", LinkTypeEthernet, Options{})
	if Format(p1, Decimal) != Format(p2, Decimal) {
		t.Errorf("And differs from the joined expression:\n%s\n%s", Format(p1, Listing), Format(p2, Listing))
	}
	if p, _ := both.Program(LinkTypeEthernet); p != p1 {
		t.Error("Program does not cache")
	}
	// An error names the expression it comes from.
	c, _ := NewFilter("ether host 00:11:22:33:44:55", Options{})
	_, err = a.And(c).Program(LinkTypeEthernet)
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.And(c).Program(LinkTypeLinuxSLL)
	var se *SyntaxError
	if !errors.As(err, &se) || se.Expr != "ether host 00:11:22:33:44:55" || se.Offset != 11 {
		t.Errorf("got %#v", err)
	}
	if !empty.Empty() || both.Empty() {
		t.Error("Empty")
	}
}

func TestQualifierReuse(t *testing.T) {
	// Each pair must compile to the same program.
	for _, c := range [][2]string{
		{"port 80 or 443", "port 80 or port 443"},
		{"tcp dst port ftp or ftp-data or domain", "tcp dst port ftp or tcp dst port ftp-data or tcp dst port domain"},
		{"not host 10.0.0.1 and 10.0.0.2", "not host 10.0.0.1 and host 10.0.0.2"},
		{"host 10.0.0.1 and (10.0.0.2 or 10.0.0.3)", "host 10.0.0.1 and (host 10.0.0.2 or host 10.0.0.3)"},
		{"net 10 or 192.168", "net 10.0.0.0/8 or net 192.168.0.0/16"},
		{"a or b", ""},
		{"udp or tcp and port 80", "(udp or tcp) and port 80"},
		{"not tcp and udp", "(not tcp) and udp"},
		{"host 10.0.0.1 and (tcp) or 10.0.0.2", "host 10.0.0.1 and tcp or host 10.0.0.2"},
	} {
		if c[1] == "" {
			continue
		}
		p1, err1 := Compile(c[0], LinkTypeEthernet, Options{})
		p2, err2 := Compile(c[1], LinkTypeEthernet, Options{})
		if err1 != nil || err2 != nil {
			t.Errorf("%q / %q: %v / %v", c[0], c[1], err1, err2)
			continue
		}
		if Format(p1, Decimal) != Format(p2, Decimal) {
			t.Errorf("%q and %q differ", c[0], c[1])
		}
	}
}

func ExampleCompile() {
	p, err := Compile("tcp port 80", LinkTypeEthernet, Options{})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(Format(p, Listing))
	// Output:
	// (000) ldh      [12]
	// (001) jeq      #0x86dd          jt 2	jf 8
	// (002) ldb      [20]
	// (003) jeq      #0x6             jt 4	jf 19
	// (004) ldh      [54]
	// (005) jeq      #0x50            jt 18	jf 6
	// (006) ldh      [56]
	// (007) jeq      #0x50            jt 18	jf 19
	// (008) jeq      #0x800           jt 9	jf 19
	// (009) ldb      [23]
	// (010) jeq      #0x6             jt 11	jf 19
	// (011) ldh      [20]
	// (012) jset     #0x1fff          jt 19	jf 13
	// (013) ldxb     4*([14]&0xf)
	// (014) ldh      [x + 14]
	// (015) jeq      #0x50            jt 18	jf 16
	// (016) ldh      [x + 16]
	// (017) jeq      #0x50            jt 18	jf 19
	// (018) ret      #262144
	// (019) ret      #0
}

func ExampleSyntaxError() {
	_, err := Compile("host 10.0.0.1 and port", LinkTypeEthernet, Options{})
	fmt.Println(err)
	// Output:
	// filter: expected a port number or name after 'port', found the end of the expression
	//     host 10.0.0.1 and port
	//                           ^
}

func ExamplePortsExpr() {
	expr, _ := PortsExpr("80,443:8000-8080")
	fmt.Println(expr)
	// Output: (port 80 or port 443 or portrange 8000-8080)
}

func ExampleFormat() {
	p, _ := Compile("ip6 and udp", LinkTypeRaw, Options{})
	fmt.Print(Format(p, Decimal))
	// Output:
	// 10
	// 48 0 0 0
	// 84 0 0 240
	// 21 0 6 96
	// 48 0 0 6
	// 21 3 0 17
	// 21 0 3 44
	// 48 0 0 40
	// 21 0 1 17
	// 6 0 0 262144
	// 6 0 0 0
}
