package capture

import (
	"io"
	"testing"

	"github.com/flowcap/flowcap/reassembly"
)

// corpusPayload is the TCP payload each capture carries, summed over its
// segments: tshark's count (MANIFEST.tsv's tcp_payload_bytes) wherever
// flowcap decodes the same packets, else ours with the reason.
var corpusPayload = map[string]int{
	"gopacket__pcap__test_ethernet.pcap":                                            450,
	"pcapplusplus__650HttpResponses.pcap":                                           541110,
	"pcapplusplus__Sll2Packet.pcap":                                                 0,
	"pcapplusplus__four_ipv6_http_streams.pcap":                                     34770,
	"pcapplusplus__ipfragutil_ip_ids.pcap":                                          1120,
	"pcapplusplus__nanosecs_big_endian.pcap":                                        1522,
	"pcapplusplus__one_tcp_stream_fin_rst_close_packet.pcap":                        313,
	"pcapplusplus__one_tcp_stream_max_seq.pcap":                                     25233,
	"pcapplusplus__raw_ip.pcap":                                                     24437,
	"pcapplusplus__sll.pcap":                                                        415114,
	"pcapplusplus__tcp-malformed.pcap":                                              0,
	"pcapplusplus__tcp-reassembly.pcap":                                             40070,
	"pcapplusplus__telnetCommandAfterData.pcap":                                     6,
	"pcapplusplus__unidirectional_tcp_stream_with_missing_packet.pcap":              8528,
	"suricata__bug-6875-01__fuzz.pcap":                                              0,
	"suricata__dcerpc__dce-gap-handling__input.pcap":                                3811,
	"suricata__dcerpc__dcerpc-dcepayload-18__input.pcap":                            104,
	"suricata__decode-chdlc-01__hdlc-http_1tx.pcap":                                 9550,
	"suricata__decode-sll2-01__input.pcap":                                          82,
	"suricata__defrag__bug-6887-defrag-ppp-ipv6-tcp__frag-ppp-ipv6-tcp.pcap":        1000,
	"suricata__eve-overlap-payload-01__tcp-overlap.pcap":                            8,
	"suricata__firewall__tcp-session-ipv6-decode-malformed__input.pcap":             18,
	"suricata__http-mime-truncated__input.pcap":                                     2526699,
	"suricata__mqtt-frames-truncated__input.pcap":                                   85,
	"suricata__output-eve-ftp-data__input.pcap":                                     51542,
	"suricata__pgsql__pgsql-events__UnknownMessage.pcap":                            9,
	"suricata__pop3-auth-01__input.pcap":                                            369,
	"suricata__rfb-parser__input.pcap":                                              83,
	"suricata__sip-method__sip.pcap":                                                814,
	"suricata__smb-eicar-overlap__input.pcap":                                       2215,
	"suricata__tcp-async-01__input.pcap":                                            181339,
	"suricata__tcp-fastopen-11-reject-syn-data__tlpw-tcp-tfo-data-on-syn-nack.pcap": 7428,
	"suricata__transform-base64-7296__input.pcap":                                   1184,
	"tcpdump__arcnet-rfc1201-arp-icmp-http.pcap":                                    0,  // unsupported link type (tshark: 607)
	"tcpdump__babel_update_oobr.pcap":                                               30, // two segments snapped: 15 of 22 bytes each captured (tshark counts 44)
	"tcpdump__beep-oobr.pcap":                                                       0,  // the capture ends inside the TCP header (tshark counts the claimed 12308)
	"tcpdump__bgp-aigp.pcap":                                                        0,  // unsupported link type (tshark: 130)
	"tcpdump__bgp_vpn_attrset.pcap":                                                 121,
	"tcpdump__gso-ipv6-vxlan-ipv6.pcap":                                             0, // TCP inside VXLAN: tunnels are not followed (tshark: 4074)
	"tcpdump__hoobr_juniper3.pcap":                                                  0,
	"tcpdump__ipoib.pcap":                                                           0, // unsupported link type (tshark: 1438)
	"tcpdump__mptcp-dss-oobr.pcap":                                                  0,
	"tcpdump__mptcp-v1.pcap":                                                        20536,
	"tcpdump__tfo-5c1fa7f9ae91.pcap":                                                4,
	"tcpdump__timestamp_invalid_nano.pcap":                                          0,
	"tcpdump__unaligned-nfs-1.pcap":                                                 116,
	"tcpflow__local.pcap":                                                           8550,
	"zeek__chksums__localhost-bad-chksum.pcap":                                      506,
	"zeek__dns-inverse-query.pcap":                                                  0, // unsupported link type (tshark: 73)
	"zeek__empty.pcap":                                                              0,
	"zeek__http-qinq-0.pcap":                                                        5143,
	"zeek__http__bro.org.pcap":                                                      453271,
	"zeek__http__get-to-ssh-server.pcap":                                            626,
	"zeek__http__http-large-gap.pcap":                                               479,
	"zeek__irc-dcc-send-malformed-host.pcap":                                        51,
	"zeek__irc-dcc-send-malformed-port.pcap":                                        55,
	"zeek__ldap__ldap_search_umlaut.pcap":                                           57,
	"zeek__modbus__fuzz-72.pcap":                                                    357,
	"zeek__mqtt.pcap":                                                               231,
	"zeek__nflog-http.pcap":                                                         0, // unsupported link type (tshark: 1682)
	"zeek__nfs__nfs_fsinfo_bad_status.pcap":                                         10904,
	"zeek__rdp__rdp-x509.pcap":                                                      1983,
	"zeek__socks-auth.pcap":                                                         40,
	"zeek__tls__openjdk-25.0.2-zeek.org.pcap":                                       3377,
	"zeek__tls__pop3-starttls.pcap":                                                 3441,
	"zeek__tls__xmpp-starttls.pcap":                                                 5354,
	"zeek__vlan-qinqinq.pcap":                                                       5143,
	"gopacket__be__test018.pcapng":                                                  0,
	"gopacket__le__test002.pcapng":                                                  0,
	"gopacket__le__test202.pcapng":                                                  0,
	"gopacket__le__test300.pcapng":                                                  10186,
	"pcapplusplus__ldap.pcapng":                                                     5062,
	"pcapplusplus__many_interfaces-1.pcapng":                                        3045,
	"pcapplusplus__mysql.pcapng":                                                    795,
	"tcpdump__empty.pcapng":                                                         0,
	"zeek__doc__traces__get.trace":                                                  5143,
}

// TestDecodeCorpus decodes every capture in testdata and compares the TCP
// payload it finds with tshark's.
func TestDecodeCorpus(t *testing.T) {
	if len(corpusPayload) != len(corpus) {
		t.Errorf("corpusPayload has %d files, corpus %d", len(corpusPayload), len(corpus))
	}
	for _, c := range corpus {
		want, ok := corpusPayload[c.file]
		if !ok {
			t.Errorf("%s: no expected payload", c.file)
			continue
		}
		s, err := Open(testdata + c.file)
		if err != nil {
			t.Fatal(err)
		}
		d := NewDecoder()
		var seg reassembly.Segment
		got := 0
		for {
			data, info, err := s.Next()
			if err != nil {
				if err != io.EOF && c.err == nil {
					t.Errorf("%s: %v", c.file, err)
				}
				break
			}
			if d.Decode(data, info, &seg) == OK {
				got += len(seg.Payload)
			}
		}
		s.Close()
		if got != want {
			t.Errorf("%s: %d payload bytes, want %d", c.file, got, want)
		}
	}
}

// firstSegments: the first TCP segment of captures of each link type, as
// tshark decodes it.
var firstSegments = []struct {
	file           string
	src, dst       string
	seq, ack       reassembly.Seq
	flags          reassembly.Flags
	payload        int
	time           int64
	vlan           int32
	srcMAC, dstMAC string
}{
	{"gopacket__le__test300.pcapng", "172.16.71.4:46920", "112.80.248.76:443", 3137687444, 0, reassembly.SYN, 0, 1659322956126474549, reassembly.NoVLAN, "000c294966cf", "8a665a639264"},
	{"pcapplusplus__nanosecs_big_endian.pcap", "127.0.0.1:43030", "127.0.0.1:8000", 1593692744, 0, reassembly.SYN, 0, 1766361926167647291, reassembly.NoVLAN, "", ""},
	{"pcapplusplus__many_interfaces-1.pcapng", "192.168.1.139:50981", "74.125.228.227:443", 734932618, 0, reassembly.SYN, 0, 1439753727931522000, reassembly.NoVLAN, "a45e60f17d93", "94103e0536d3"},
	{"pcapplusplus__ldap.pcapng", "192.168.0.3:4066", "172.31.1.101:389", 3857412637, 2688871125, reassembly.PSH | reassembly.ACK, 1352, 1103276405901593000, reassembly.NoVLAN, "005056c00001", "000c29094dfa"},
	{"zeek__http-qinq-0.pcap", "141.142.228.5:59856", "192.150.187.43:80", 4263588410, 0, reassembly.SYN, 0, 1362692526869344000, 0xb000, "c8bcc896d2a0", "0010db88d2ef"},
	{"zeek__vlan-qinqinq.pcap", "141.142.228.5:59856", "192.150.187.43:80", 4263588410, 0, reassembly.SYN, 0, 1362692526869344000, 30, "c8bcc896d2a0", "0010db88d2ef"},
	{"suricata__eve-overlap-payload-01__tcp-overlap.pcap", "1.1.1.1:12345", "2.2.2.2:8080", 1, 0, reassembly.SYN, 0, 1700146003547733000, 6, "000102030405", "050403020100"},
	{"pcapplusplus__sll.pcap", "10.0.0.8:40800", "212.199.202.69:80", 685919276, 0, reassembly.SYN, 0, 1465939109108116000, reassembly.NoVLAN, "080027191c78", ""},
	{"suricata__smb-eicar-overlap__input.pcap", "192.168.1.100:48234", "192.168.1.3:445", 256376273, 0, reassembly.SYN, 0, 1581503284947696000, reassembly.NoVLAN, "00302bd9384c", ""},
	{"pcapplusplus__Sll2Packet.pcap", "7.249.151.114:57292", "116.63.66.108:443", 2813042623, 2865673705, reassembly.ACK, 0, 0, reassembly.NoVLAN, "d2cfc25015ea", ""},
	{"suricata__decode-sll2-01__input.pcap", "192.168.1.253:56478", "192.168.1.21:80", 2332771219, 0, reassembly.SYN, 0, 1736381483613927000, reassembly.NoVLAN, "aa763071b0e7", ""},
	{"zeek__tls__openjdk-25.0.2-zeek.org.pcap", "192.168.64.6:55058", "192.0.78.150:443", 974184494, 0, reassembly.SYN, 0, 1776243128835142000, reassembly.NoVLAN, "fa37dc8dafab", ""},
	{"pcapplusplus__four_ipv6_http_streams.pcap", "[2001:618:400::5199:cc70]:35995", "[2001:618:1:8000::5]:80", 1793525558, 0, reassembly.SYN, 0, 1147551795526632000, reassembly.NoVLAN, "", ""},
	{"pcapplusplus__raw_ip.pcap", "[2001:618:400::5199:cc70]:35995", "[2001:618:1:8000::5]:80", 1793525558, 0, reassembly.SYN, 0, 1147551795526632000, reassembly.NoVLAN, "", ""},
	{"suricata__pgsql__pgsql-events__UnknownMessage.pcap", "167.248.133.59:47478", "10.44.3.101:5432", 3132741648, 0, reassembly.SYN, 0, 1641268444788066000, reassembly.NoVLAN, "", ""},
	{"suricata__dcerpc__dcerpc-dcepayload-18__input.pcap", "192.168.1.1:1234", "192.168.1.2:135", 1000, 0, reassembly.SYN, 0, 1777364156222555000, reassembly.NoVLAN, "", ""},
	{"zeek__ldap__ldap_search_umlaut.pcap", "192.168.1.100:54321", "192.168.1.10:389", 1000, 0, reassembly.SYN, 0, 1761342480275351000, reassembly.NoVLAN, "", ""},
	{"suricata__rfb-parser__input.pcap", "127.0.0.1:60537", "127.0.0.1:5900", 268435456, 0, reassembly.SYN, 0, 1612510490000000000, reassembly.NoVLAN, "", ""},
	{"pcapplusplus__mysql.pcapng", "127.0.0.1:59463", "127.0.0.1:3306", 1584341257, 3018470399, reassembly.PSH | reassembly.ACK, 190, 1772697399481825000, reassembly.NoVLAN, "", ""},
	{"tcpflow__local.pcap", "127.0.0.1:50103", "127.0.0.1:6258", 2912809435, 1770982011, reassembly.PSH | reassembly.ACK, 174, 1326681269396335000, reassembly.NoVLAN, "", ""},
	{"tcpdump__bgp_vpn_attrset.pcap", "12.4.4.4:2051", "12.1.1.1:179", 3293077573, 3348108582, reassembly.PSH | reassembly.ACK, 121, 1072183874453556000, reassembly.NoVLAN, "", ""},
	{"suricata__decode-chdlc-01__hdlc-http_1tx.pcap", "192.168.2.7:4938", "65.55.116.183:80", 2620655980, 0, reassembly.SYN, 0, 1258222644993536000, reassembly.NoVLAN, "", ""},
}

func TestDecodeFirstSegment(t *testing.T) {
	for _, c := range firstSegments {
		s, err := Open(testdata + c.file)
		if err != nil {
			t.Fatal(err)
		}
		d := NewDecoder()
		var seg reassembly.Segment
		for {
			data, info, err := s.Next()
			if err != nil {
				t.Fatalf("%s: no TCP segment: %v", c.file, err)
			}
			if d.Decode(data, info, &seg) == OK {
				break
			}
		}
		s.Close()
		if seg.Key.Src.String() != c.src || seg.Key.Dst.String() != c.dst || seg.Seq != c.seq || seg.Ack != c.ack ||
			seg.Flags != c.flags || len(seg.Payload) != c.payload || seg.Time != c.time || seg.VLAN != c.vlan ||
			hexMAC(seg.SrcMAC) != c.srcMAC || hexMAC(seg.DstMAC) != c.dstMAC {
			t.Errorf("%s:\n got %v -> %v seq %d ack %d flags %#x payload %d time %d vlan %d mac %s -> %s\nwant %v",
				c.file, seg.Key.Src, seg.Key.Dst, seg.Seq, seg.Ack, seg.Flags, len(seg.Payload), seg.Time, seg.VLAN,
				hexMAC(seg.SrcMAC), hexMAC(seg.DstMAC), c)
		}
	}
}

// BenchmarkDecodeCapture decodes the packets of real captures, read into
// memory first.
func BenchmarkDecodeCapture(b *testing.B) {
	for _, file := range []string{"zeek__http__bro.org.pcap", "pcapplusplus__sll.pcap", "tcpflow__local.pcap"} {
		s, err := Open(testdata + file)
		if err != nil {
			b.Fatal(err)
		}
		var frames [][]byte
		var infos []Info
		for {
			data, info, err := s.Next()
			if err != nil {
				break
			}
			frames = append(frames, append([]byte(nil), data...))
			infos = append(infos, info)
		}
		s.Close()
		b.Run(file, func(b *testing.B) {
			d := NewDecoder()
			var seg reassembly.Segment
			b.ReportAllocs()
			for b.Loop() {
				for i, f := range frames {
					d.Decode(f, infos[i], &seg)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(frames)), "ns/packet")
		})
	}
}
