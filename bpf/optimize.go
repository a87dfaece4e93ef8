package bpf

// jinsn is an instruction whose jump targets are instruction indexes:
// t for "ja" and the true branch, f for the false branch.
type jinsn struct {
	insn
	t, f int
}

// optimize resolves labels to indexes and tidies the jumping code: it
// threads jumps through "ja", turns a "ja" to a return into the return,
// skips tests whose outcome the path already knows, drops loads of values
// a register already holds, dead register moves, code from which every
// path rejects, and unreachable code (values.go has the analysis). It
// keeps every other packet load, so a packet cut short is rejected exactly
// where the unoptimised program would reject it.
func optimize(code []insn, labels []int) []jinsn {
	out := make([]jinsn, len(code))
	for i, in := range code {
		out[i] = jinsn{insn: in}
		if in.isJump() && in.class() == clsJMP {
			out[i].t = target(labels, in.jt)
			if in.isCondJump() {
				out[i].f = target(labels, in.jf)
			}
		}
	}
	// Phase 1: every test still loads what it compares, so a jump may
	// skip a whole test whose outcome the path already decided.
	for it := 0; it < maxPasses; it++ {
		changed := thread(out)
		changed = threadKnown(out) || changed
		var removed bool
		out, removed = compact(out)
		if !changed && !removed {
			break
		}
	}
	// Phase 2: drop loads of what A or X already hold on every path, and
	// tests decided on every path. Only removes paths, so it stays sound.
	for it := 0; it < maxPasses; it++ {
		changed := eliminate(out)
		changed = rejectEarly(out) || changed
		changed = deadStores(out) || changed
		changed = thread(out) || changed
		var removed bool
		out, removed = compact(out)
		if !changed && !removed {
			break
		}
	}
	return out
}

// maxPasses bounds each phase: a pass is linear in the program, and the
// first few do nearly all the work (on long or-chains each later pass only
// finds a couple more instructions to drop).
const maxPasses = 6

// thread retargets jumps that land on "ja", copies returns into "ja",
// and turns conditional jumps with equal targets into "ja".
func thread(code []jinsn) bool {
	changed := false
	// Jumps to a return go to the last return of that value, so that two
	// branches ending in equal returns are seen to be equal.
	lastRet := map[insn]int{}
	for i, in := range code {
		if in.class() == clsRET {
			lastRet[in.insn] = i
		}
	}
	follow := func(j int) int {
		for n := 0; code[j].class() == clsJMP && !code[j].isCondJump() && n < len(code); n++ {
			j = code[j].t
		}
		if code[j].class() == clsRET {
			j = lastRet[code[j].insn]
		}
		return j
	}
	for i := range code {
		in := &code[i]
		if in.class() != clsJMP {
			continue
		}
		if t := follow(in.t); t != in.t {
			in.t, changed = t, true
		}
		if in.isCondJump() {
			if f := follow(in.f); f != in.f {
				in.f, changed = f, true
			}
			if in.t == in.f {
				in.op, in.k, in.f = clsJMP|opJA, 0, 0
				changed = true
			}
			continue
		}
		if code[in.t].class() == clsRET {
			*in = code[in.t]
			changed = true
		}
	}
	return changed
}

// rejectEarly ends the program with "ret #0" at the first instruction
// from which every path rejects: the loads on the way could only reject
// too (a load past the end rejects), so nothing changes but the work.
func rejectEarly(code []jinsn) bool {
	rejects := make([]bool, len(code))
	changed := false
	for i := len(code) - 1; i >= 0; i-- {
		in := &code[i]
		switch {
		case in.class() == clsRET:
			rejects[i] = in.op == clsRET|retK && in.k == 0
			continue
		case in.isCondJump():
			rejects[i] = rejects[in.t] && rejects[in.f]
		case in.class() == clsJMP:
			rejects[i] = rejects[in.t]
		default:
			rejects[i] = rejects[i+1]
		}
		if rejects[i] {
			*in = jinsn{insn: ret(0)}
			changed = true
		}
	}
	return changed
}

// compact removes unreachable instructions and "ja" to the next
// instruction, renumbering targets.
func compact(code []jinsn) ([]jinsn, bool) {
	live := make([]bool, len(code))
	// Every jump is forward, so one pass in order finds what is reachable.
	live[0] = true
	for i, in := range code {
		if !live[i] {
			continue
		}
		switch {
		case in.class() == clsRET:
		case in.class() == clsJMP:
			live[in.t] = true
			if in.isCondJump() {
				live[in.f] = true
			}
		case i+1 < len(code):
			live[i+1] = true
		}
	}
	for i, in := range code {
		if live[i] && in.class() == clsJMP && !in.isCondJump() && in.t == i+1 {
			live[i] = false // falls through instead; i+1 is reachable
		}
	}
	// next[i] is the new index of the first live instruction at or after i.
	next := make([]int, len(code)+1)
	n := 0
	for i := range code {
		if live[i] {
			n++
		}
	}
	if n == len(code) {
		return code, false
	}
	next[len(code)] = n
	for i := len(code) - 1; i >= 0; i-- {
		if live[i] {
			n--
		}
		next[i] = n
	}
	out := make([]jinsn, 0, next[len(code)])
	for i, in := range code {
		if !live[i] {
			continue
		}
		if in.class() == clsJMP {
			in.t = next[in.t]
			if in.isCondJump() {
				in.f = next[in.f]
			}
		}
		out = append(out, in)
	}
	return out, true
}
