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
	b = appendJSONField(b, `{"uid":`, f.UID)
	b = appendJSONField(b, `,"community_id":`, f.CommunityID)
	b = appendJSONField(b, `,"ts":`, f.TS)
	b = appendJSONField(b, `,"end":`, f.End)
	b = append(b, `,"duration":`...)
	b = appendJSONFloat(b, f.Duration)
	b = appendJSONField(b, `,"proto":`, f.Proto)
	b = appendJSONInt(b, `,"ip":`, int64(f.IP))
	if f.VLAN != nil {
		b = appendJSONInt(b, `,"vlan":`, int64(*f.VLAN))
	}
	b = appendJSONField(b, `,"closed":`, f.Closed)
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
		b = appendJSONInt(b, `,"http_unlisted":`, int64(f.HTTPUnlisted))
	}
	return append(b, '}')
}

func (s *Side) appendJSON(b []byte) []byte {
	b = appendJSONField(b, `{"addr":`, s.Addr)
	b = appendJSONUint(b, `,"port":`, uint64(s.Port))
	if s.MAC != "" {
		b = appendJSONField(b, `,"mac":`, s.MAC)
	}
	b = appendJSONUint(b, `,"packets":`, s.Packets)
	b = appendJSONUint(b, `,"wire_bytes":`, s.WireBytes)
	b = appendJSONUint(b, `,"payload_bytes":`, s.PayloadBytes)
	b = appendJSONInt(b, `,"bytes":`, s.Bytes)
	b = appendJSONInt(b, `,"file_bytes":`, s.FileBytes)
	b = appendJSONUint(b, `,"holes":`, s.Holes)
	b = appendJSONUint(b, `,"hole_bytes":`, s.HoleBytes)
	b = appendJSONUint(b, `,"retrans_bytes":`, s.RetransBytes)
	b = appendJSONUint(b, `,"differ_bytes":`, s.DifferBytes)
	b = appendJSONUint(b, `,"out_of_order":`, s.OutOfOrder)
	b = appendJSONUint(b, `,"violations":`, s.Violations)
	b = appendJSONField(b, `,"closed":`, s.Closed)
	if s.QuotaBytes != 0 {
		b = appendJSONInt(b, `,"quota_bytes":`, s.QuotaBytes)
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
	b = appendJSONField(b, `{"name":`, f.Name)
	b = appendJSONInt(b, `,"size":`, f.Size)
	b = appendJSONOptional(b, `,"md5":`, f.MD5)
	b = appendJSONOptional(b, `,"pcap":`, f.Pcap)
	b = appendJSONOptional(b, `,"http_stop":`, f.HTTPStop)
	b = appendJSONOptional(b, `,"http_error":`, f.HTTPErr)
	return append(b, '}')
}

func (h *HTTPBody) appendJSON(b []byte) []byte {
	b = appendJSONField(b, `{"flow":`, h.Flow)
	b = appendJSONInt(b, `,"n":`, int64(h.N))
	b = appendJSONInt(b, `,"status":`, int64(h.Status))
	b = appendJSONOptional(b, `,"method":`, h.Method)
	b = appendJSONOptional(b, `,"uri":`, h.URI)
	b = appendJSONOptional(b, `,"content_type":`, h.ContentType)
	b = appendJSONOptional(b, `,"encoding":`, h.Encoding)
	if h.Offset != nil {
		b = appendJSONInt(b, `,"offset":`, *h.Offset)
	}
	b = appendJSONInt(b, `,"wire_bytes":`, h.WireBytes)
	b = appendJSONOptional(b, `,"file":`, h.File)
	if h.Size != 0 {
		b = appendJSONInt(b, `,"size":`, h.Size)
	}
	b = appendJSONOptional(b, `,"cut":`, h.Cut)
	b = appendJSONOptional(b, `,"error":`, h.Error)
	return append(b, '}')
}

// appendJSONField writes key and s quoted.
func appendJSONField(b []byte, key, s string) []byte {
	return appendJSONString(append(b, key...), s)
}

// appendJSONInt writes key and v.
func appendJSONInt(b []byte, key string, v int64) []byte {
	return strconv.AppendInt(append(b, key...), v, 10)
}

// appendJSONUint writes key and v.
func appendJSONUint(b []byte, key string, v uint64) []byte {
	return strconv.AppendUint(append(b, key...), v, 10)
}

// appendJSONOptional writes key and s, unless s is empty (omitempty).
func appendJSONOptional(b []byte, key, s string) []byte {
	if s == "" {
		return b
	}
	return appendJSONField(b, key, s)
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
