package bpf

import (
	"fmt"
	"slices"
	"strings"
	"sync"

	"golang.org/x/net/bpf"
)

// DefaultSnaplen is what an accepting program returns when
// Options.Snaplen is zero: tcpdump's default snapshot length.
const DefaultSnaplen = 262144

// Options tune compilation. The zero value is what tcpdump does by default.
type Options struct {
	// Snaplen is the value an accepting program returns (the kernel keeps
	// that many bytes of the packet); 0 means DefaultSnaplen.
	Snaplen uint32
	// Live compiles for the kernel's filter on a live Linux AF_PACKET
	// socket instead of for capture files, as libpcap does for a live
	// capture: on EN10MB the first "vlan" looks for the outer tag where the
	// kernel put it (in the packet's metadata); LINUX_SLL and LINUX_SLL2
	// stand for the cooked socket of "any", which hands the filter the
	// network-layer packet; "inbound", "outbound" and "ifindex" work on
	// every link type. A live program reads kernel metadata: give it to the
	// kernel (Raw), not to Match. See live.go and docs/filters.md.
	Live bool
}

func (o Options) snaplen() uint32 {
	if o.Snaplen == 0 {
		return DefaultSnaplen
	}
	return o.Snaplen
}

// Program is a compiled filter for one link type. It is immutable and safe
// for concurrent use.
type Program struct {
	expr     string
	linkType uint32
	live     bool
	raw      []bpf.RawInstruction
	vm       vm // nil for a live program
}

// Compile compiles a pcap-filter(7) expression for a link type. An empty
// (or all-blank) expression accepts every packet. Errors located in the
// expression are *SyntaxError; an unknown link type is
// ErrUnsupportedLinkType, an oversized program ErrTooLong.
func Compile(expr string, linkType uint32, opts Options) (*Program, error) {
	f, err := NewFilter(expr, opts)
	if err != nil {
		return nil, err
	}
	return f.Program(linkType)
}

// Raw returns the program as kernel instructions (for SO_ATTACH_FILTER);
// the caller must not modify it.
func (p *Program) Raw() []bpf.RawInstruction { return p.raw }

// Instructions returns the program as golang.org/x/net/bpf instructions.
func (p *Program) Instructions() []bpf.Instruction {
	ins, _ := bpf.Disassemble(p.raw)
	return ins
}

// LinkType returns the link type the program was compiled for.
func (p *Program) LinkType() uint32 { return p.linkType }

// String returns the expression the program was compiled from.
func (p *Program) String() string { return p.expr }

// Live reports whether the program was compiled with Options.Live.
func (p *Program) Live() bool { return p.live }

// Match runs the program on one packet: pkt is the captured bytes, wireLen
// the length on the wire (what "len", "less" and "greater" test, as in
// libpcap). It does not allocate. It panics on a live program, whose
// verdict depends on metadata only the kernel has: match packets in user
// space with the program for files of the same expression.
func (p *Program) Match(pkt []byte, wireLen int) bool {
	if p.live {
		panic("bpf: Match on a program compiled with Options.Live (it reads kernel metadata): use the program for files")
	}
	return p.vm.run(pkt, uint32(wireLen)) != 0
}

// Filter is a parsed expression, compiled on demand for each link type a
// capture brings (a pcapng file may mix them). It is safe for concurrent
// use.
type Filter struct {
	parts []part // and-ed in order
	opts  Options

	mu    sync.Mutex
	progs map[uint32]*Program
	errs  map[uint32]error
}

// part is one expression of a filter with its syntax tree (nil if blank).
type part struct {
	expr string
	root node
}

// NewFilter parses expr. Syntax errors and unknown names are reported
// here; what a link type cannot do is reported by Program.
func NewFilter(expr string, opts Options) (*Filter, error) {
	root, err := parse(expr)
	if err != nil {
		return nil, err
	}
	f := &Filter{opts: opts}
	if root != nil {
		f.parts = []part{{expr, root}}
	}
	return f, nil
}

// And returns a filter that accepts what both f and g accept, as if
// their expressions were joined with "and" (so a "vlan" in f moves the
// offsets g is compiled with). Errors still quote the expression they
// come from.
func (f *Filter) And(g *Filter) *Filter {
	parts := append(append([]part{}, f.parts...), g.parts...)
	return &Filter{parts: parts, opts: f.opts}
}

// String returns the expression, the parts of an And joined by "and".
func (f *Filter) String() string {
	var s []string
	for _, p := range f.parts {
		s = append(s, "("+p.expr+")")
	}
	if len(s) == 1 {
		return f.parts[0].expr
	}
	return strings.Join(s, " and ")
}

// Empty reports whether the filter accepts everything (no expression).
func (f *Filter) Empty() bool { return len(f.parts) == 0 }

// Program returns the program for a link type, compiling it on first use.
func (f *Filter) Program(linkType uint32) (*Program, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if p, ok := f.progs[linkType]; ok {
		return p, nil
	}
	if err, ok := f.errs[linkType]; ok {
		return nil, err
	}
	p, err := f.compile(linkType)
	if err != nil {
		if f.errs == nil {
			f.errs = map[uint32]error{}
		}
		f.errs[linkType] = err
		return nil, err
	}
	if f.progs == nil {
		f.progs = map[uint32]*Program{}
	}
	f.progs[linkType] = p
	return p, nil
}

func (f *Filter) compile(linkType uint32) (*Program, error) {
	l, ok := layoutFor(linkType)
	if !ok {
		return nil, fmt.Errorf("compile filter for link type %d: %w", linkType, ErrUnsupportedLinkType)
	}
	g := &codegen{l: l, live: f.opts.Live}
	var c cond = constCond(true)
	if g.live && linkType == LinkTypeEthernet && slices.ContainsFunc(f.parts, func(p part) bool { return hasVlan(p.root) }) {
		g.regs = vlanReg + 1 // reserved for the whole program
	}
	for i, p := range f.parts {
		g.expr = p.expr
		pc, err := g.genNode(p.root)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			c = pc
		} else {
			c = and(c, pc)
		}
	}
	if g.varOff {
		// The run-time part of the offsets starts at 0 on every path.
		c = and(&effect{[]insn{ldImm(0), st(vlanReg)}}, c)
	}
	raw, err := assemble(c, f.opts.snaplen())
	if err != nil {
		return nil, fmt.Errorf("compile %q for %s: %w", f.String(), linkTypeName(linkType), err)
	}
	p := &Program{expr: f.String(), linkType: linkType, live: g.live, raw: raw}
	if g.liveCooked() {
		err = cook(raw, linkType)
	}
	if err == nil && g.live {
		err = checkLive(raw)
	} else if err == nil {
		p.vm, err = newVM(raw)
	}
	if err != nil {
		// The compiler made a program its own checker refuses: a bug.
		return nil, fmt.Errorf("bpf: internal error compiling %q: %w", f.String(), err)
	}
	return p, nil
}
