package bpf

// Value numbering over the jumping code, for the optimiser. Every value
// a register can hold gets a number: equal numbers mean the same value for
// every packet (the same load, the same constant, the same computation on
// the same inputs). Facts learnt from conditional jumps ("P[12:2] ==
// 0x86dd" on the true edge) attach to numbers, so they stay true wherever
// the value is reloaded. Number 0 means "unknown" and equals nothing.

type vkey struct {
	op   uint16
	k    uint32
	a, b uint32
}

type numbering struct {
	ids    map[vkey]uint32
	consts map[uint32]uint32 // value number -> constant
	next   uint32
}

func newNumbering() *numbering {
	return &numbering{ids: map[vkey]uint32{}, consts: map[uint32]uint32{}}
}

func (n *numbering) fresh() uint32 {
	n.next++
	return n.next
}

// id returns the number of an expression whose inputs are known (a, b
// not 0 where used).
func (n *numbering) id(key vkey) uint32 {
	if v, ok := n.ids[key]; ok {
		return v
	}
	v := n.fresh()
	n.ids[key] = v
	return v
}

// constant returns the number of a constant.
func (n *numbering) constant(k uint32) uint32 {
	v := n.id(vkey{op: clsLD | modeIMM, k: k})
	n.consts[v] = k
	return v
}

// fact records the outcome of a jump op|k on a value; op opJA means
// "the value is one of set[:n]" (what is known where paths that learnt
// different equalities meet).
type fact struct {
	id      uint32
	op      uint16
	k       uint32
	outcome bool
	n       uint8
	set     [maxSet]uint32
}

const maxSet = 8

// valueSet returns the values id can have, if the facts narrow it down.
func (s *vstate) valueSet(id uint32) ([]uint32, bool) {
	var set []uint32
	known := false
	narrow := func(vals []uint32) {
		if !known {
			set, known = append([]uint32(nil), vals...), true
			return
		}
		kept := set[:0]
		for _, v := range set {
			for _, w := range vals {
				if v == w {
					kept = append(kept, v)
					break
				}
			}
		}
		set = kept
	}
	for _, f := range s.facts {
		if f.id != id {
			continue
		}
		switch {
		case f.op == opJEQ && f.outcome:
			narrow([]uint32{f.k})
		case f.op == opJA:
			narrow(f.set[:f.n])
		}
	}
	if !known {
		return nil, false
	}
	kept := set[:0]
	for _, v := range set {
		excluded := false
		for _, f := range s.facts {
			if f.id == id && f.op == opJEQ && !f.outcome && f.k == v {
				excluded = true
			}
		}
		if !excluded {
			kept = append(kept, v)
		}
	}
	return kept, true
}

const maxFacts = 48

// vstate is what is known at a program point.
type vstate struct {
	a, x  uint32
	mem   [numScratch]uint32
	facts []fact
}

func (s *vstate) clone() *vstate {
	c := *s
	c.facts = append([]fact(nil), s.facts...)
	return &c
}

func (s *vstate) learn(f fact) {
	for _, g := range s.facts {
		if g == f {
			return
		}
	}
	if len(s.facts) >= maxFacts {
		s.facts = s.facts[1:]
	}
	s.facts = append(s.facts, f)
}

// meet keeps what holds on both incoming paths. A scratch word that
// differs gets a new number: whatever it holds, every load of it until the
// next store gives the same value (a live "vlan" leaves 0 or 4 in vlanReg,
// which all later offsets add).
func (s *vstate) meet(o *vstate, n *numbering) {
	if s.a != o.a {
		s.a = 0
	}
	if s.x != o.x {
		s.x = 0
	}
	for i := range s.mem {
		if s.mem[i] != o.mem[i] {
			s.mem[i] = n.fresh()
		}
	}
	// Values known on both sides, as sets: P0 == 2 on one path and
	// P0 == 0x2000000 on the other give P0 in {2, 0x2000000}.
	var sets []fact
	for _, f := range s.facts {
		if f.op != opJEQ && f.op != opJA {
			continue
		}
		done := false
		for _, g := range sets {
			done = done || g.id == f.id
		}
		a, okA := s.valueSet(f.id)
		b, okB := o.valueSet(f.id)
		if done || !okA || !okB {
			continue
		}
		u := fact{id: f.id, op: opJA}
		for _, v := range append(a, b...) {
			dup := false
			for _, w := range u.set[:u.n] {
				dup = dup || v == w
			}
			if dup {
				continue
			}
			if int(u.n) == maxSet {
				u.n = 0
				break
			}
			u.set[u.n] = v
			u.n++
		}
		if u.n > 0 {
			sets = append(sets, u)
		}
	}
	kept := s.facts[:0]
	for _, f := range s.facts {
		for _, g := range o.facts {
			if f == g {
				kept = append(kept, f)
				break
			}
		}
	}
	s.facts = kept
	for _, f := range sets {
		s.learn(f)
	}
}

// step applies a non-jump instruction to s and returns the number of what
// it loads (0 for other instructions or an unknown value).
func (n *numbering) step(s *vstate, in insn) uint32 {
	switch in.class() {
	case clsLD:
		var v uint32
		switch in.op & 0xe0 {
		case modeABS, modeLEN:
			v = n.id(vkey{op: in.op, k: in.k})
		case modeIMM:
			v = n.constant(in.k)
		case modeIND:
			if s.x != 0 {
				v = n.id(vkey{op: in.op, k: in.k, a: s.x})
			} else {
				v = n.fresh()
			}
		case modeMEM:
			v = s.mem[in.k%numScratch]
			if v == 0 {
				v = n.fresh()
			}
		}
		s.a = v
		return v
	case clsLDX:
		var v uint32
		switch in.op & 0xe0 {
		case modeMSH, modeLEN:
			v = n.id(vkey{op: in.op, k: in.k})
		case modeIMM:
			v = n.constant(in.k)
		case modeMEM:
			v = s.mem[in.k%numScratch]
			if v == 0 {
				v = n.fresh()
			}
		}
		s.x = v
		return v
	case clsST:
		s.mem[in.k%numScratch] = s.a
	case clsSTX:
		s.mem[in.k%numScratch] = s.x
	case clsALU:
		ca, aok := n.consts[s.a]
		cx, xok := n.consts[s.x]
		op := in.op & 0xf0
		switch {
		case in.op&srcX == 0 && (op == opAND || op == opMUL) && in.k == 0:
			s.a = n.constant(0)
		case in.op&srcX == 0 && op == opOR && in.k == 0xffffffff:
			s.a = n.constant(0xffffffff)
		case op == opNEG && aok:
			s.a = n.constant(-ca)
		case op == opNEG:
			s.a = n.fresh()
		case in.op&srcX == 0 && aok && !((op == opDIV || op == opMOD) && in.k == 0):
			s.a = n.constant(alu(op, ca, in.k))
		case in.op&srcX != 0 && aok && xok && !((op == opDIV || op == opMOD) && cx == 0):
			s.a = n.constant(alu(op, ca, cx))
		case s.a == 0 || (in.op&srcX != 0 && s.x == 0):
			s.a = n.fresh()
		case in.op&srcX != 0:
			s.a = n.id(vkey{op: in.op, a: s.a, b: s.x})
		default:
			s.a = n.id(vkey{op: in.op, k: in.k, a: s.a})
		}
	case clsMISC:
		if in.op&0xf8 == miscTXA {
			s.a = s.x
		} else {
			s.x = s.a
		}
		if s.a == 0 {
			v := n.fresh()
			s.a, s.x = v, v
		}
	}
	return 0
}

// decide returns the outcome of conditional jump in on s, if known: from
// a constant A, the same test met before, "A == c" or the set of values A
// can have, and the bounds earlier jgt/jge tests put on it.
//
// With strict, the outcome must come from facts about A: a test decided so
// may be skipped with its loads, since the facts come from a test that made
// the same loads on the same path. A constant ("P[12] & 0") or a test true
// of every value ("A >= 0") is decided only without strict, where the jump
// goes and the loads stay.
func (n *numbering) decide(s *vstate, in insn, strict bool) (outcome, known bool) {
	if in.op&srcX != 0 || s.a == 0 {
		return false, false
	}
	op, k := in.op&0xf0, in.k
	if c, ok := n.consts[s.a]; ok {
		if strict {
			return false, false
		}
		return test1(op, c, k), true
	}
	if strict {
		if _, trivial := n.decide(&vstate{a: s.a}, in, false); trivial {
			return false, false
		}
	}
	if set, ok := s.valueSet(s.a); ok && len(set) > 0 {
		t, f := 0, 0
		for _, v := range set {
			if test1(op, v, k) {
				t++
			} else {
				f++
			}
		}
		switch {
		case f == 0:
			return true, true
		case t == 0:
			return false, true
		}
	}
	lo, hi := uint32(0), ^uint32(0)
	for _, f := range s.facts {
		if f.id != s.a {
			continue
		}
		if f.op == op && f.k == k {
			return f.outcome, true
		}
		switch {
		case f.op == opJGT && f.outcome && f.k < ^uint32(0):
			lo = max(lo, f.k+1)
		case f.op == opJGT && !f.outcome:
			hi = min(hi, f.k)
		case f.op == opJGE && f.outcome:
			lo = max(lo, f.k)
		case f.op == opJGE && !f.outcome && f.k > 0:
			hi = min(hi, f.k-1)
		}
	}
	if lo > hi {
		return false, false // contradictory facts: an unreachable path; leave it alone
	}
	switch op {
	case opJEQ:
		if k < lo || k > hi {
			return false, true
		}
		if lo == hi {
			return true, true
		}
	case opJGT:
		if lo > k {
			return true, true
		}
		if hi <= k {
			return false, true
		}
	case opJGE:
		if lo >= k {
			return true, true
		}
		if hi < k {
			return false, true
		}
	case opJSET:
		if lo == hi {
			return lo&k != 0, true
		}
	}
	return false, false
}

// edge returns the state along one branch of conditional jump in.
func edge(s *vstate, in insn, outcome bool) *vstate {
	e := s.clone()
	if in.op&srcX == 0 && s.a != 0 {
		e.learn(fact{id: s.a, op: in.op & 0xf0, k: in.k, outcome: outcome})
	}
	return e
}

// analyse computes the state on entry to each instruction (nil: not
// reachable) and, for each jump, the state just before it.
func analyse(code []jinsn, n *numbering) (entry []*vstate) {
	entry = make([]*vstate, len(code))
	entry[0] = &vstate{}
	merge := func(i int, s *vstate) {
		if entry[i] == nil {
			entry[i] = s
		} else {
			entry[i].meet(s, n)
		}
	}
	for i, in := range code {
		s := entry[i]
		if s == nil {
			continue
		}
		switch {
		case in.class() == clsRET:
		case in.isCondJump():
			merge(in.t, edge(s, in.insn, true))
			merge(in.f, edge(s, in.insn, false))
		case in.class() == clsJMP:
			merge(in.t, s.clone())
		default:
			o := s.clone()
			n.step(o, in.insn)
			merge(i+1, o)
		}
	}
	return entry
}

// threadKnown retargets each jump past tests whose outcome is known on
// that edge. It relies on every test loading what it compares (true of
// the code as generated, before eliminate), so a skipped test leaves
// nothing behind that later code needs, and on facts coming only from
// tests the path ran, so a skipped load was already done on the path and
// cannot be the one that runs off the end of the packet.
func threadKnown(code []jinsn) bool {
	n := newNumbering()
	entry := analyse(code, n)
	changed := false
	// skip follows tests from target t under state s as far as they are decided.
	skip := func(t int, s *vstate) int {
		for steps := 0; steps < len(code); steps++ {
			sim := s.clone()
			i := t
			for !code[i].isJump() {
				n.step(sim, code[i].insn)
				i++
			}
			in := code[i]
			if !in.isCondJump() {
				return t
			}
			outcome, known := n.decide(sim, in.insn, true)
			if !known {
				return t
			}
			s = edge(sim, in.insn, outcome)
			if outcome {
				t = in.t
			} else {
				t = in.f
			}
		}
		return t
	}
	for i := range code {
		in := &code[i]
		s := entry[i]
		if s == nil || !in.isCondJump() {
			continue
		}
		if t := skip(in.t, edge(s, in.insn, true)); t != in.t {
			in.t, changed = t, true
		}
		if f := skip(in.f, edge(s, in.insn, false)); f != in.f {
			in.f, changed = f, true
		}
	}
	return changed
}

// eliminate turns loads of values a register already holds on every path
// into no-ops, and jumps decided on every path into "ja". A no-op is a
// "ja" to the next instruction, which compact removes. It runs the
// analysis and the rewriting in one pass in program order: every
// predecessor of an instruction comes before it, so its entry state
// already reflects the rewritten predecessors, and one pass does what
// would otherwise take a pass per layer of decided jumps.
func eliminate(code []jinsn) bool {
	n := newNumbering()
	entry := make([]*vstate, len(code))
	entry[0] = &vstate{}
	merge := func(i int, s *vstate) {
		if entry[i] == nil {
			entry[i] = s
		} else {
			entry[i].meet(s, n)
		}
	}
	changed := false
	for i := range code {
		in := &code[i]
		s := entry[i]
		entry[i] = nil // no longer needed
		if s == nil {
			continue
		}
		switch {
		case in.class() == clsRET:
		case in.isCondJump():
			if outcome, known := n.decide(s, in.insn, false); known {
				t := in.f
				if outcome {
					t = in.t
				}
				*in = jinsn{insn: insn{op: clsJMP | opJA}, t: t}
				changed = true
				merge(t, s)
				continue
			}
			merge(in.t, edge(s, in.insn, true))
			merge(in.f, edge(s, in.insn, false))
		case in.class() == clsJMP:
			merge(in.t, s)
		default:
			before := s.clone()
			v := n.step(s, in.insn)
			redundant := false
			switch in.class() {
			case clsLD:
				redundant = v != 0 && v == before.a
			case clsLDX:
				redundant = v != 0 && v == before.x
			case clsST:
				redundant = before.a != 0 && before.mem[in.k%numScratch] == before.a
			case clsMISC:
				redundant = before.a != 0 && before.a == before.x
			}
			if redundant {
				*in = jinsn{insn: insn{op: clsJMP | opJA}, t: i + 1}
				changed = true
			}
			merge(i+1, s)
		}
	}
	return changed
}

// Registers for liveness: A, X and the scratch words.
const (
	regA = 1 << iota
	regX
	regM0
)

// uses and defs of an instruction, as register bit sets.
func usesDefs(in insn) (use, def uint32) {
	switch in.class() {
	case clsLD:
		switch in.op & 0xe0 {
		case modeIND:
			use = regX
		case modeMEM:
			use = regM0 << (in.k % numScratch)
		}
		def = regA
	case clsLDX:
		if in.op&0xe0 == modeMEM {
			use = regM0 << (in.k % numScratch)
		}
		def = regX
	case clsST:
		use, def = regA, regM0<<(in.k%numScratch)
	case clsSTX:
		use, def = regX, regM0<<(in.k%numScratch)
	case clsALU:
		use, def = regA, regA
		if in.op&srcX != 0 && in.op&0xf0 != opNEG {
			use |= regX
		}
	case clsJMP:
		if in.op&0xf0 != opJA {
			use = regA
			if in.op&srcX != 0 {
				use |= regX
			}
		}
	case clsRET:
		if in.op&0x18 == retA {
			use = regA
		}
	case clsMISC:
		if in.op&0xf8 == miscTXA {
			use, def = regX, regA
		} else {
			use, def = regA, regX
		}
	}
	return use, def
}

// mayAbort reports whether an instruction can end the program by itself:
// a packet load past the end of the packet, a division by zero.
func mayAbort(in insn) bool {
	switch in.class() {
	case clsLD:
		m := in.op & 0xe0
		return m == modeABS || m == modeIND
	case clsLDX:
		return in.op&0xe0 == modeMSH
	case clsALU:
		op := in.op & 0xf0
		return in.op&srcX != 0 && (op == opDIV || op == opMOD)
	}
	return false
}

// deadStores turns instructions whose only effect is to set registers
// nobody reads into no-ops. Packet loads stay even when their value is
// not needed: a load past the end of a packet rejects it, and keeping them
// keeps flowcap's verdict on a truncated packet that of libpcap's
// unoptimised program (libpcap's optimiser drops some dead loads and not
// others, so its verdict there depends on the shape of the program).
func deadStores(code []jinsn) bool {
	liveIn := make([]uint32, len(code)+1)
	changed := false
	for i := len(code) - 1; i >= 0; i-- {
		in := &code[i]
		var out uint32
		switch {
		case in.class() == clsRET:
		case in.isCondJump():
			out = liveIn[in.t] | liveIn[in.f]
		case in.class() == clsJMP:
			out = liveIn[in.t]
		default:
			out = liveIn[i+1]
		}
		use, def := usesDefs(in.insn)
		if def != 0 && def&out == 0 && in.class() != clsJMP && in.class() != clsRET && !mayAbort(in.insn) {
			*in = jinsn{insn: insn{op: clsJMP | opJA}, t: i + 1}
			changed = true
			liveIn[i] = out
			continue
		}
		liveIn[i] = out&^def | use
	}
	return changed
}

// test1 evaluates a conditional jump's test on known operands.
func test1(op uint16, a, k uint32) bool {
	switch op {
	case opJEQ:
		return a == k
	case opJGT:
		return a > k
	case opJGE:
		return a >= k
	}
	return a&k != 0
}
