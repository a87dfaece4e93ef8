package flowfile

import (
	"bytes"
	"encoding/json"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
)

// The hand-written flows.jsonl line is encoding/json's, byte for byte,
// for random flows whose strings hold everything that needs escaping.
func TestFlowJSONAsEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	pieces := []string{"", "a", "10.0.0.1", "<script>&", `"\`, "\x00\x01\b\f\n\r\t\x1f\x7f", "é€😀", "\u2028\u2029", "\xff\xfe", "\xe2\x82", "name c1"}
	str := func() string {
		var sb strings.Builder
		for range r.IntN(4) {
			sb.WriteString(pieces[r.IntN(len(pieces))])
		}
		return sb.String()
	}
	num := func() uint64 {
		switch r.IntN(3) {
		case 0:
			return 0
		case 1:
			return uint64(r.IntN(1000))
		}
		return r.Uint64()
	}
	floats := []float64{0, 1e-7, 1.5e-6, 0.000001, 0.25, 1, 3600.123456, 1e20, 1e21, 1.2345678e25, -2e-9}
	side := func() *Side {
		if r.IntN(4) == 0 {
			return nil
		}
		s := &Side{Addr: str(), Port: uint16(r.Uint32()), MAC: str(), Packets: num(), WireBytes: num(), PayloadBytes: num(),
			Bytes: int64(num()), FileBytes: -int64(num() % 5), Holes: num(), HoleBytes: num(), RetransBytes: num(),
			DifferBytes: num(), OutOfOrder: num(), Violations: num(), Closed: str(), QuotaBytes: int64(num() % 3)}
		for range r.IntN(3) {
			s.Files = append(s.Files, File{Name: str(), Size: int64(num()), MD5: str(), Pcap: str(), HTTPStop: str(), HTTPErr: str()})
		}
		return s
	}
	for i := range 2000 {
		f := &Flow{UID: str(), CommunityID: str(), TS: str(), End: str(), Duration: floats[i%len(floats)] * r.Float64(),
			Proto: str(), IP: r.IntN(7) - 1, Closed: str(), Orig: side(), Resp: side(), HTTPUnlisted: r.IntN(3) - 1}
		if i < len(floats) {
			f.Duration = floats[i]
		}
		if r.IntN(2) == 0 {
			v := r.IntN(5000) - 1
			f.VLAN = &v
		}
		for range r.IntN(3) {
			h := HTTPBody{Flow: str(), N: r.IntN(3), Status: r.IntN(600), Method: str(), URI: str(), ContentType: str(),
				Encoding: str(), WireBytes: int64(num()), File: str(), Size: int64(num() % 4), Cut: str(), Error: str()}
			if r.IntN(2) == 0 {
				off := int64(num())
				h.Offset = &off
			}
			f.HTTP = append(f.HTTP, h)
		}
		if r.IntN(5) == 0 {
			f.HTTP = []HTTPBody{} // empty, not nil: omitted as well
		}
		want, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		if got := f.appendJSON(nil); !bytes.Equal(got, want) {
			t.Fatalf("flow %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

// appendTime writes what time.AppendFormat writes, over the whole range of
// capture times.
func TestAppendTime(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	times := []int64{0, -1, 1, 999, 1000, -1000, -1001, 86399999999999, 86400000000000, -86400000000000,
		951782400e9, 951868800e9 - 1, 1709294400123456789, math.MaxInt64, math.MinInt64, -62135596800e9 / 1e9}
	for range 100000 {
		times = append(times, int64(r.Uint64()))
	}
	for _, ns := range times {
		want := time.Unix(0, ns).UTC().AppendFormat(nil, "2006-01-02T15:04:05.000000Z")
		if got := appendTime(nil, ns); !bytes.Equal(got, want) {
			t.Fatalf("%d: %s, want %s", ns, got, want)
		}
	}
}

func BenchmarkFlowLine(b *testing.B) {
	f := &Flow{UID: "C0123456789abcdef", CommunityID: "1:abcdefghijklmnopqrstuvwxyz0=", TS: "2024-01-02T03:04:05.000000Z",
		End: "2024-01-02T03:04:06.000000Z", Duration: 1.000001, Proto: "tcp", IP: 4, Closed: "fin",
		Orig: &Side{Addr: "10.0.0.1", Port: 1234, Packets: 10, Closed: "fin", Files: []File{{Name: "010.000.000.001.01234-010.000.000.002.00080", Size: 100}}},
		Resp: &Side{Addr: "10.0.0.2", Port: 80, Packets: 10, Closed: "fin", Files: []File{{Name: "010.000.000.002.00080-010.000.000.001.01234", Size: 1000}}}}
	b.Run("appendJSON", func(b *testing.B) {
		var buf []byte
		for b.Loop() {
			buf = f.appendJSON(buf[:0])
		}
	})
	b.Run("encoding/json", func(b *testing.B) {
		for b.Loop() {
			json.Marshal(f)
		}
	})
}
