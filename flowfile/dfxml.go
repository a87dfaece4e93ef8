package flowfile

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/user"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// Creator says who writes a report, for its DFXML <creator> section.
type Creator struct {
	Program     string   // "flowcap"
	Version     string   // flowcap's version
	CommandLine []string // the arguments flowcap was run with, program name first
	Start       time.Time
}

// Summary is what a run saw, for the end of report.xml.
type Summary struct {
	Packets       uint64 // packets read
	Flows         uint64 // streams (directions) opened
	OpenFlows     int    // streams still open at the end (a failed shard leaves some)
	PeakOpenFiles int64  // most flow files open at once
}

// dfxml writes tcpflow's report.xml: the same elements and attributes, in
// the same layout, with flowcap's values. It is written under a temporary
// name and renamed into place only when the run succeeded, so that a
// report under its final name is always complete and well formed (unlike
// tcpflow's, which a crash leaves unterminated, tcpflow#90).
type dfxml struct {
	path, tmp string
	f         *os.File
	mu        sync.Mutex // guards w and err: shards and scanners add fileobjects concurrently
	w         *bufio.Writer
	err       error // the first write error
}

// partialSuffix marks a report that is not (yet) complete.
const partialSuffix = ".partial"

// createDFXML starts report.xml at path (under path.partial), up to the
// section the fileobjects go in.
func createDFXML(path string, c Creator) (*dfxml, error) {
	x := &dfxml{path: path, tmp: path + partialSuffix}
	f, err := os.OpenFile(x.tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|syscall.O_NOFOLLOW|syscall.O_CLOEXEC, 0o666)
	if err != nil {
		return nil, fmt.Errorf("report: %w", err)
	}
	x.f, x.w = f, bufio.NewWriterSize(f, 64<<10)
	x.write(dfxmlHead(c))
	return x, nil
}

func (x *dfxml) write(s string) {
	if x.err == nil {
		_, x.err = x.w.WriteString(s)
	}
}

// add appends fileobjects (their text, as fileObject writes them).
func (x *dfxml) add(text []byte) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.err == nil {
		_, x.err = x.w.Write(text)
	}
}

// finish writes the end of the report and puts it in place; failed, if
// not nil, is why the run's data is incomplete: the report then says so
// and stays under its .partial name. It returns the name it is under.
func (x *dfxml) finish(sum Summary, start time.Time, failed error) (string, error) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.write("  </configuration>\n")
	if failed != nil {
		// Not a tcpflow element: a report of a run that lost data says so.
		x.write("  <error>" + xmlEscape(failed.Error()) + "</error>\n")
	}
	x.write(dfxmlTail(sum, start))
	err := x.err
	if ferr := x.w.Flush(); err == nil {
		err = ferr
	}
	if cerr := x.f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return x.tmp, fmt.Errorf("report %s: %w", x.tmp, err)
	}
	if failed != nil {
		return x.tmp, nil
	}
	if err := os.Rename(x.tmp, x.path); err != nil {
		return x.tmp, fmt.Errorf("report: %w", err)
	}
	return x.path, nil
}

// dfxmlHead is everything before the first fileobject.
func dfxmlHead(c Creator) string {
	var b strings.Builder
	b.WriteString("<?xml version='1.0' encoding='UTF-8'?>\n" +
		"<dfxml xmloutputversion='1.0'>\n" +
		"  <metadata \n" +
		"  xmlns='http://afflib.org/tcpflow/' \n" +
		"  xmlns:xsi='http://www.w3.org/2001/XMLSchema-instance' \n" +
		"  xmlns:dc='http://purl.org/dc/elements/1.1/'>\n" +
		"    <dc:type>Feature Extraction</dc:type>\n" +
		"  </metadata>\n" +
		"  <creator version='1.0'>\n")
	element(&b, 4, "program", c.Program)
	element(&b, 4, "version", c.Version)
	b.WriteString("    <build_environment>\n")
	element(&b, 6, "compiler", runtime.Version()+" ("+runtime.Compiler+")")
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "-ldflags":
				element(&b, 6, "LDFLAGS", s.Value)
			case "vcs.time":
				element(&b, 6, "compilation_date", s.Value)
			}
		}
		for _, d := range bi.Deps {
			fmt.Fprintf(&b, "      <library name=\"%s\" version=\"%s\"/>\n", xmlEscape(d.Path), xmlEscape(d.Version))
		}
	}
	b.WriteString("    </build_environment>\n    <execution_environment>\n")
	var u unix.Utsname
	if unix.Uname(&u) == nil {
		element(&b, 6, "os_sysname", unix.ByteSliceToString(u.Sysname[:]))
		element(&b, 6, "os_release", unix.ByteSliceToString(u.Release[:]))
		element(&b, 6, "os_version", unix.ByteSliceToString(u.Version[:]))
		element(&b, 6, "host", unix.ByteSliceToString(u.Nodename[:]))
		element(&b, 6, "arch", unix.ByteSliceToString(u.Machine[:]))
	}
	element(&b, 6, "command_line", shellJoin(c.CommandLine))
	element(&b, 6, "uid", strconv.Itoa(os.Getuid()))
	if me, err := user.Current(); err == nil {
		element(&b, 6, "username", me.Username)
	}
	element(&b, 6, "start_time", c.Start.UTC().Format("2006-01-02T15:04:05Z"))
	b.WriteString("    </execution_environment>\n" +
		"  </creator>\n" +
		"  <configuration>\n" +
		"  </configuration>\n" +
		"  <tdelta>0</tdelta>\n" +
		"  <configuration>\n")
	return b.String()
}

// dfxmlTail is everything after the last fileobject's section.
func dfxmlTail(sum Summary, start time.Time) string {
	var b strings.Builder
	b.WriteString("  <summary />\n")
	element(&b, 2, "open_fds_at_end", "0")
	element(&b, 2, "max_open_flows", strconv.FormatInt(sum.PeakOpenFiles, 10))
	element(&b, 2, "total_flows", strconv.FormatUint(sum.Flows, 10))
	element(&b, 2, "flow_map_size", strconv.Itoa(sum.OpenFlows))
	element(&b, 2, "total_packets", strconv.FormatUint(sum.Packets, 10))
	b.WriteString("  <rusage>\n")
	var ru unix.Rusage
	if unix.Getrusage(unix.RUSAGE_SELF, &ru) == nil {
		tv := func(t unix.Timeval) string { return fmt.Sprintf("%d.%06d", t.Sec, t.Usec) }
		element(&b, 4, "utime", tv(ru.Utime))
		element(&b, 4, "stime", tv(ru.Stime))
		for _, e := range []struct {
			name string
			v    int64
		}{{"maxrss", ru.Maxrss}, {"minflt", ru.Minflt}, {"majflt", ru.Majflt}, {"nswap", ru.Nswap}, {"inblock", ru.Inblock}, {"oublock", ru.Oublock}} {
			element(&b, 4, e.name, strconv.FormatInt(e.v, 10))
		}
	}
	element(&b, 4, "clocktime", fmt.Sprintf("%.6f", time.Since(start).Seconds()))
	b.WriteString("  </rusage>\n</dfxml>\n")
	return b.String()
}

func element(w io.StringWriter, indent int, name, value string) {
	w.WriteString(strings.Repeat(" ", indent) + "<" + name + ">" + xmlEscape(value) + "</" + name + ">\n")
}

// fileObject appends the <fileobject> of one stream, as tcpflow's
// tcpip::dump_xml writes it: dir is what the report puts before a file's
// name (see Reporter.dir).
func fileObject(b []byte, s *streamInfo, dir string) []byte {
	b = append(b, "    <fileobject>\n"...)
	if s.name != "" { // "" when the stream carried no payload
		b = append(b, "      <filename>"...)
		b = appendEscaped(b, dir)
		b = appendEscaped(b, s.name)
		b = append(b, "</filename>\n"...)
	}
	b = append(b, "      <filesize>"...)
	b = strconv.AppendInt(b, s.size, 10)
	b = append(b, "</filesize>\n      <tcpflow startime='"...)
	b = appendTime(b, s.first)
	b = append(b, "' endtime='"...)
	b = appendTime(b, s.last)
	b = append(b, "' "...)
	if s.dstMAC != ([6]byte{}) {
		b = append(b, "mac_daddr='"...)
		b = appendMAC(b, s.dstMAC)
		b = append(b, "' "...)
	}
	if s.srcMAC != ([6]byte{}) {
		b = append(b, "mac_saddr='"...)
		b = appendMAC(b, s.srcMAC)
		b = append(b, "' "...)
	}
	family := "2"
	if !s.key.Src.Addr().Unmap().Is4() {
		family = "10" // AF_INET6 on Linux, as tcpflow writes it
	}
	b = append(b, "family='"+family+"' src_ipn='"...)
	b = s.key.Src.Addr().Unmap().AppendTo(b)
	b = append(b, "' dst_ipn='"...)
	b = s.key.Dst.Addr().Unmap().AppendTo(b)
	b = append(b, "' srcport='"...)
	b = strconv.AppendUint(b, uint64(s.key.Src.Port()), 10)
	b = append(b, "' dstport='"...)
	b = strconv.AppendUint(b, uint64(s.key.Dst.Port()), 10)
	b = append(b, "' packets='"...)
	b = strconv.AppendUint(b, s.packets, 10)
	b = append(b, "' "...)
	if s.outOfOrder > 0 {
		b = append(b, "out_of_order_count='"...)
		b = strconv.AppendUint(b, s.outOfOrder, 10)
		b = append(b, "' "...)
	}
	if s.violations > 0 {
		b = append(b, "violations='"...)
		b = strconv.AppendUint(b, s.violations, 10)
		b = append(b, "' "...)
	}
	b = append(b, "len='"...)
	b = strconv.AppendUint(b, s.wireBytes, 10)
	b = append(b, "' "...)
	if s.capBytes != s.wireBytes {
		b = append(b, "caplen='"...)
		b = strconv.AppendUint(b, s.capBytes, 10)
		b = append(b, "' "...)
	}
	b = append(b, "/>\n"...)

	// What the scanners add, on one line as tcpflow's dfxml_writer puts it.
	if s.md5 == "" && s.http == nil {
		return append(b, "    </fileobject>\n"...)
	}
	b = append(b, "      "...)
	if s.md5 != "" {
		b = append(b, "<hashdigest type='MD5'>"+s.md5+"</hashdigest>"...)
	}
	if s.http != nil {
		b = append(b, "\n    <byte_runs>\n"...)
		for _, body := range s.http.Bodies {
			if body.Name == "" {
				continue
			}
			b = append(b, "     <byte_run file_offset='"...)
			b = strconv.AppendInt(b, body.Offset, 10)
			b = append(b, "'><fileobject><filename>"...)
			b = appendEscaped(b, dir)
			b = appendEscaped(b, body.Name)
			b = append(b, "</filename><filesize>"...)
			b = strconv.AppendInt(b, body.Size, 10)
			b = append(b, "</filesize></fileobject></byte_run>\n"...)
		}
		b = append(b, "    </byte_runs>"...)
	}
	return append(b, "\n    </fileobject>\n"...)
}

// appendTime writes a capture time as tcpflow's to8601 does:
// 2006-01-02T15:04:05.000000Z, UTC, microseconds. By hand, as
// time.AppendFormat costs ten times as much and the reports take several
// per flow (TestAppendTime keeps them equal).
func appendTime(b []byte, ns int64) []byte {
	sec, frac := ns/1e9, ns%1e9
	if frac < 0 { // before 1970: the second below, as time.Unix counts
		sec, frac = sec-1, frac+1e9
	}
	days, s := sec/86400, sec%86400
	if s < 0 {
		days, s = days-1, s+86400
	}
	y, m, d := civil(days)
	b = appendDigits(b, y, 4)
	b = append(b, '-')
	b = appendDigits(b, m, 2)
	b = append(b, '-')
	b = appendDigits(b, d, 2)
	b = append(b, 'T')
	b = appendDigits(b, s/3600, 2)
	b = append(b, ':')
	b = appendDigits(b, s/60%60, 2)
	b = append(b, ':')
	b = appendDigits(b, s%60, 2)
	b = append(b, '.')
	b = appendDigits(b, frac/1000, 6)
	return append(b, 'Z')
}

// civil returns the date of a day counted from 1970-01-01 (Howard
// Hinnant's days-to-civil: eras of 400 years from March 0000).
func civil(days int64) (y, m, d int64) {
	z := days + 719468
	era := z / 146097
	if z < 0 && z%146097 != 0 {
		era--
	}
	doe := z - era*146097                                  // day of the era
	yoe := (doe - doe/1460 + doe/36524 - doe/146096) / 365 // year of the era
	doy := doe - (365*yoe + yoe/4 - yoe/100)               // day of the year, from March 1
	mp := (5*doy + 2) / 153                                // month, from March
	d = doy - (153*mp+2)/5 + 1
	m = mp + 3
	if m > 12 {
		m -= 12
	}
	y = yoe + era*400
	if m <= 2 {
		y++
	}
	return y, m, d
}

// appendDigits writes v, not negative, in at least n digits.
func appendDigits(b []byte, v int64, n int) []byte {
	var buf [20]byte
	i := len(buf)
	for v > 0 || n > 0 {
		i--
		buf[i] = byte('0' + v%10)
		v /= 10
		n--
	}
	return append(b, buf[i:]...)
}

func appendMAC(b []byte, m [6]byte) []byte {
	const hex = "0123456789abcdef"
	for i, c := range m {
		if i > 0 {
			b = append(b, ':')
		}
		b = append(b, hex[c>>4], hex[c&15])
	}
	return b
}

func appendEscaped(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f || c == '&' || c == '<' || c == '>' || c == '\'' || c == '"' {
			return append(b, xmlEscape(s)...)
		}
	}
	return append(b, s...) // flow file names: printable ASCII, nothing to escape
}

var xmlReplacer = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", "'", "&apos;", "\"", "&quot;")

// xmlEscape escapes text for an element or a quoted attribute; bytes that
// XML 1.0 cannot hold at all (control characters, invalid UTF-8) become
// U+FFFD, so that the report stays well formed whatever a name holds.
func xmlEscape(s string) string {
	clean := utf8.ValidString(s)
	for _, r := range s {
		if !xmlChar(r) {
			clean = false
			break
		}
	}
	if !clean {
		s = strings.Map(func(r rune) rune {
			if xmlChar(r) {
				return r
			}
			return '\uFFFD'
		}, strings.ToValidUTF8(s, "\uFFFD"))
	}
	return xmlReplacer.Replace(s)
}

func xmlChar(r rune) bool {
	return r == '\t' || r == '\n' || r == '\r' || (r >= 0x20 && r < 0xD800) || (r >= 0xE000 && r <= 0xFFFD) || (r >= 0x10000 && r <= 0x10FFFF)
}

// shellJoin writes a command line as a shell would read it back.
func shellJoin(args []string) string {
	var b strings.Builder
	for i, a := range args {
		if i > 0 {
			b.WriteByte(' ')
		}
		if a != "" && strings.IndexFunc(a, func(r rune) bool {
			return !(r == '-' || r == '_' || r == '.' || r == '/' || r == ',' || r == ':' || r == '=' || r == '+' || r == '@' ||
				'0' <= r && r <= '9' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z')
		}) < 0 {
			b.WriteString(a)
			continue
		}
		b.WriteString("'" + strings.ReplaceAll(a, "'", `'\''`) + "'")
	}
	return b.String()
}
