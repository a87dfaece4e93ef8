package flowfile

import (
	"math"
	"strconv"
	"unicode/utf8"
)

// A line of flows.jsonl is written by hand, byte for byte as encoding/json
// writes the Flow (field order, omitempty, escaping of HTML characters and
// of invalid UTF-8, float format): reflection cost a tenth of a CPU second
// per 20,000 connections (TestFlowJSONAsEncodingJSON keeps them equal).

func (f *Flow) appendJSON(b []byte) []byte {
	b = append(b, `{"uid":`...)
	b = appendJSONString(b, f.UID)
	b = append(b, `,"community_id":`...)
	b = appendJSONString(b, f.CommunityID)
	b = append(b, `,"ts":`...)
	b = appendJSONString(b, f.TS)
	b = append(b, `,"end":`...)
	b = appendJSONString(b, f.End)
	b = append(b, `,"duration":`...)
	b = appendJSONFloat(b, f.Duration)
	b = append(b, `,"proto":`...)
	b = appendJSONString(b, f.Proto)
	b = append(b, `,"ip":`...)
	b = strconv.AppendInt(b, int64(f.IP), 10)
	if f.VLAN != nil {
		b = append(b, `,"vlan":`...)
		b = strconv.AppendInt(b, int64(*f.VLAN), 10)
	}
	b = append(b, `,"closed":`...)
	b = appendJSONString(b, f.Closed)
	if f.Orig != nil {
		b = append(b, `,"orig":`...)
		b = f.Orig.appendJSON(b)
	}
	if f.Resp != nil {
		b = append(b, `,"resp":`...)
		b = f.Resp.appendJSON(b)
	}
	if len(f.HTTP) > 0 {
		b = append(b, `,"http":[`...)
		for i := range f.HTTP {
			if i > 0 {
				b = append(b, ',')
			}
			b = f.HTTP[i].appendJSON(b)
		}
		b = append(b, ']')
	}
	if f.HTTPUnlisted != 0 {
		b = append(b, `,"http_unlisted":`...)
		b = strconv.AppendInt(b, int64(f.HTTPUnlisted), 10)
	}
	return append(b, '}')
}

func (s *Side) appendJSON(b []byte) []byte {
	b = append(b, `{"addr":`...)
	b = appendJSONString(b, s.Addr)
	b = append(b, `,"port":`...)
	b = strconv.AppendUint(b, uint64(s.Port), 10)
	if s.MAC != "" {
		b = append(b, `,"mac":`...)
		b = appendJSONString(b, s.MAC)
	}
	for _, n := range [...]struct {
		key string
		v   uint64
	}{
		{`,"packets":`, s.Packets}, {`,"wire_bytes":`, s.WireBytes}, {`,"payload_bytes":`, s.PayloadBytes},
	} {
		b = append(b, n.key...)
		b = strconv.AppendUint(b, n.v, 10)
	}
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, s.Bytes, 10)
	b = append(b, `,"file_bytes":`...)
	b = strconv.AppendInt(b, s.FileBytes, 10)
	for _, n := range [...]struct {
		key string
		v   uint64
	}{
		{`,"holes":`, s.Holes}, {`,"hole_bytes":`, s.HoleBytes}, {`,"retrans_bytes":`, s.RetransBytes},
		{`,"differ_bytes":`, s.DifferBytes}, {`,"out_of_order":`, s.OutOfOrder}, {`,"violations":`, s.Violations},
	} {
		b = append(b, n.key...)
		b = strconv.AppendUint(b, n.v, 10)
	}
	b = append(b, `,"closed":`...)
	b = appendJSONString(b, s.Closed)
	if s.QuotaBytes != 0 {
		b = append(b, `,"quota_bytes":`...)
		b = strconv.AppendInt(b, s.QuotaBytes, 10)
	}
	if len(s.Files) > 0 {
		b = append(b, `,"files":[`...)
		for i := range s.Files {
			if i > 0 {
				b = append(b, ',')
			}
			b = s.Files[i].appendJSON(b)
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

func (f *File) appendJSON(b []byte) []byte {
	b = append(b, `{"name":`...)
	b = appendJSONString(b, f.Name)
	b = append(b, `,"size":`...)
	b = strconv.AppendInt(b, f.Size, 10)
	b = appendJSONOptional(b, `,"md5":`, f.MD5)
	b = appendJSONOptional(b, `,"pcap":`, f.Pcap)
	b = appendJSONOptional(b, `,"http_stop":`, f.HTTPStop)
	b = appendJSONOptional(b, `,"http_error":`, f.HTTPErr)
	return append(b, '}')
}

func (h *HTTPBody) appendJSON(b []byte) []byte {
	b = append(b, `{"flow":`...)
	b = appendJSONString(b, h.Flow)
	b = append(b, `,"n":`...)
	b = strconv.AppendInt(b, int64(h.N), 10)
	b = append(b, `,"status":`...)
	b = strconv.AppendInt(b, int64(h.Status), 10)
	b = appendJSONOptional(b, `,"method":`, h.Method)
	b = appendJSONOptional(b, `,"uri":`, h.URI)
	b = appendJSONOptional(b, `,"content_type":`, h.ContentType)
	b = appendJSONOptional(b, `,"encoding":`, h.Encoding)
	if h.Offset != nil {
		b = append(b, `,"offset":`...)
		b = strconv.AppendInt(b, *h.Offset, 10)
	}
	b = append(b, `,"wire_bytes":`...)
	b = strconv.AppendInt(b, h.WireBytes, 10)
	b = appendJSONOptional(b, `,"file":`, h.File)
	if h.Size != 0 {
		b = append(b, `,"size":`...)
		b = strconv.AppendInt(b, h.Size, 10)
	}
	b = appendJSONOptional(b, `,"cut":`, h.Cut)
	b = appendJSONOptional(b, `,"error":`, h.Error)
	return append(b, '}')
}

// appendJSONOptional writes key and s, unless s is empty (omitempty).
func appendJSONOptional(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	return appendJSONString(append(b, key...), s)
}

// appendJSONString quotes s as encoding/json does by default: <, > and &
// escaped for HTML, invalid UTF-8 as U+FFFD, U+2028 and U+2029 escaped.
func appendJSONString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' && c != '<' && c != '>' && c != '&' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendJSONFloat writes f as encoding/json does: like ES6's number to
// string, exponents past its cutoffs without padding.
func appendJSONFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if n := len(b); format == 'e' && n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
		b[n-2] = b[n-1]
		b = b[:n-1]
	}
	return b
}
