package capturetest

import (
	"math"
	"math/rand/v2"
	"net/netip"
)

// Dir is a direction of a connection.
type Dir uint8

const (
	ClientToServer Dir = iota
	ServerToClient
)

type pktKind uint8

const (
	kindCtl       pktKind = iota // no payload: SYN, ACK, FIN, RST
	kindData                     // payload from the stream (or alt)
	kindKeepAlive                // one garbage byte at next-1: not data
)

// TCP flags, bit for bit as on the wire.
const (
	flagFIN = 1 << iota
	flagSYN
	flagRST
	flagPSH
	flagACK
)

// pkt is one TCP segment of the schedule; the encoder turns it into one
// frame, or several when frag is set.
type pkt struct {
	conn   int32
	dir    Dir
	flags  uint8
	kind   pktKind
	frag   bool
	pinned bool // handshake, close, keep-alive and the segment before it: never moved, dropped or crossed
	seq    uint32
	ack    uint32
	off    int64  // stream offset of the first payload byte
	n      int32  // payload length
	alt    []byte // payload sent instead of the stream's (conflict, keep-alive)
}

// Stats says what a scenario's capture holds.
type Stats struct {
	Packets int64 // frames written
	Bytes   int64 // frame bytes written (record headers aside)
	Files   int   // flow files expected: directions that carried data

	Segments    int64 // TCP segments (a fragmented segment is one)
	Dropped     int64 // data segments never sent
	Duplicated  int64 // exact copies sent
	Retransmits int64 // partial retransmissions (same bytes)
	Conflicts   int64 // overlapping copies with different bytes
	Reordered   int64 // segments delayed
	KeepAlives  int64
	Fragmented  int64 // segments sent as IP fragments
}

// connPackets builds the packets of connection i in the order its
// endpoints send them, then applies the scenario's mutations.
func (s *Scenario) connPackets(i int, st *Stats) []pkt {
	c := &s.Conns[i]
	rng := rand.New(rand.NewPCG(s.Seed, uint64(i)+1))
	mss := int64(s.MSS)
	if mss <= 0 {
		mss = defaultMSS
	}
	size := [2]int64{c.data(0).Len(), c.data(1).Len()}
	isn := [2]uint32{c.ClientISN, c.ServerISN}
	for d := range isn {
		if isn[d] != 0 {
			continue
		}
		if s.WrapISN {
			// Byte o has seq isn+1+o: wrap after 1..size-1 bytes.
			isn[d] = uint32(math.MaxUint32 - 1 - rng.Int64N(max(size[d]-1, 1)))
		} else {
			isn[d] = rng.Uint32()
		}
	}
	seq := func(d Dir, off int64) uint32 { return isn[d] + 1 + uint32(off) }

	ps := make([]pkt, 0, 8+(size[0]+size[1])/mss*2)
	add := func(p pkt) {
		p.conn = int32(i)
		ps = append(ps, p)
	}
	var sent [2]int64
	if !c.Midstream {
		syn := pkt{dir: ClientToServer, flags: flagSYN, seq: isn[0], pinned: true}
		if c.SYNData > 0 {
			syn.kind, syn.n = kindData, int32(c.SYNData)
			sent[0] = int64(c.SYNData)
		}
		add(syn)
		add(pkt{dir: ServerToClient, flags: flagSYN | flagACK, seq: isn[1], ack: seq(0, sent[0]), pinned: true})
		add(pkt{dir: ClientToServer, flags: flagACK, seq: seq(0, sent[0]), ack: seq(1, 0), pinned: true})
	}
	turn := c.Turn
	if turn <= 0 {
		turn = math.MaxInt64
	}
	for sent[0] < size[0] || sent[1] < size[1] {
		for d := range Dir(2) {
			if sent[d] >= size[d] {
				continue
			}
			end := sent[d] + min(turn, size[d]-sent[d])
			for off := sent[d]; off < end; off += mss {
				n := min(mss, end-off)
				p := pkt{dir: d, flags: flagACK, kind: kindData, seq: seq(d, off), ack: seq(1-d, sent[1-d]), off: off, n: int32(n)}
				if off+n == end {
					p.flags |= flagPSH
					p.pinned = s.KeepAlive
				}
				add(p)
			}
			sent[d] = end
			if s.KeepAlive {
				var b [1]byte
				c.data(int(d)).Fill(b[:], end-1)
				add(pkt{dir: d, flags: flagACK, kind: kindKeepAlive, seq: seq(d, end) - 1, ack: seq(1-d, sent[1-d]),
					off: end - 1, n: 1, alt: []byte{^b[0]}, pinned: true})
			}
			add(pkt{dir: 1 - d, flags: flagACK, seq: seq(1-d, sent[1-d]), ack: seq(d, end)})
		}
	}
	switch c.Close {
	case CloseFIN:
		add(pkt{dir: ClientToServer, flags: flagFIN | flagACK, seq: seq(0, size[0]), ack: seq(1, size[1]), pinned: true})
		add(pkt{dir: ServerToClient, flags: flagFIN | flagACK, seq: seq(1, size[1]), ack: seq(0, size[0]) + 1, pinned: true})
		add(pkt{dir: ClientToServer, flags: flagACK, seq: seq(0, size[0]) + 1, ack: seq(1, size[1]) + 1, pinned: true})
	case CloseRST:
		add(pkt{dir: ClientToServer, flags: flagRST | flagACK, seq: seq(0, size[0]), ack: seq(1, size[1]), pinned: true})
	}
	return s.mutate(c, ps, rng, st)
}

type mutation uint8

const (
	mutNone mutation = iota
	mutDrop
	mutDuplicate
	mutRetransmit
	mutConflict
)

// mutate drops, copies, delays and fragments the data segments of one
// connection. Copies and delayed segments wait in a queue for a few
// packets and are let out before any pinned packet, so they never cross
// the handshake, a keep-alive or the close.
func (s *Scenario) mutate(c *Conn, ps []pkt, rng *rand.Rand, st *Stats) []pkt {
	depth := s.ReorderDepth
	if depth <= 0 {
		depth = defaultDepth
	}
	plain := s.Drop == 0 && s.Duplicate == 0 && s.Retransmit == 0 && s.Conflict == 0 && s.Reorder == 0
	if plain && s.Fragment == 0 {
		st.Segments += int64(len(ps))
		return ps
	}
	muts := make([]mutation, len(ps))
	for i := range ps {
		if ps[i].kind != kindData || ps[i].pinned {
			continue
		}
		switch r := rng.Float64(); {
		case r < s.Drop:
			muts[i] = mutDrop
		case r < s.Drop+s.Duplicate:
			muts[i] = mutDuplicate
		case r < s.Drop+s.Duplicate+s.Retransmit:
			muts[i] = mutRetransmit
		case r < s.Drop+s.Duplicate+s.Retransmit+s.Conflict:
			muts[i] = mutConflict
		}
	}
	// next returns the index of the data segment that follows ps[i] in
	// its direction, or -1.
	next := func(i int) int {
		for j := i + 1; j < len(ps); j++ {
			if ps[j].dir == ps[i].dir && ps[j].kind == kindData && ps[j].off == ps[i].off+int64(ps[i].n) {
				return j
			}
		}
		return -1
	}

	out := make([]pkt, 0, len(ps)+len(ps)/4)
	type waiting struct {
		p   pkt
		due int
	}
	var queue []waiting
	put := func(p pkt) {
		if p.kind == kindData && s.Fragment > 0 && rng.Float64() < s.Fragment {
			p.frag = true
			st.Fragmented++
		}
		out = append(out, p)
	}
	emit := func(p pkt) {
		put(p)
		for len(queue) > 0 && queue[0].due <= len(out) {
			q := queue[0].p
			queue = queue[1:]
			put(q)
		}
	}
	wait := func(p pkt) {
		due := len(out) + 1 + rng.IntN(depth)
		j := len(queue)
		for j > 0 && queue[j-1].due > due {
			j--
		}
		queue = append(queue, waiting{})
		copy(queue[j+1:], queue[j:])
		queue[j] = waiting{p, due}
	}
	for i, p := range ps {
		if p.pinned {
			for _, w := range queue {
				put(w.p)
			}
			queue = queue[:0]
			emit(p)
			continue
		}
		switch muts[i] {
		case mutDrop:
			st.Dropped++
			continue
		case mutDuplicate:
			st.Duplicated++
			wait(p)
		case mutRetransmit:
			if j := next(i); j >= 0 && muts[j] != mutDrop {
				q := ps[j]
				r := p
				half := int64(p.n) / 2
				r.off, r.n = p.off+half, p.n-int32(half)+q.n/2+q.n%2
				r.seq = p.seq + uint32(half)
				st.Retransmits++
				wait(r)
			}
		case mutConflict:
			if p.n >= 2 {
				a := rng.Int32N(p.n - 1)
				r := p
				r.off, r.n, r.seq = p.off+int64(a), 2+rng.Int32N(p.n-a-1), p.seq+uint32(a)
				r.alt = make([]byte, r.n)
				c.data(int(p.dir)).Fill(r.alt, r.off)
				for k := range r.alt {
					r.alt[k] ^= 0xff
				}
				st.Conflicts++
				wait(r)
			}
		}
		if s.Reorder > 0 && rng.Float64() < s.Reorder {
			st.Reordered++
			wait(p)
			continue
		}
		emit(p)
	}
	for _, w := range queue {
		put(w.p)
	}
	st.Segments += int64(len(out))
	return out
}

// schedule interleaves the connections' packets and calls visit for each,
// in capture order. Connections open in the order listed, Concurrency at a
// time; a connection whose endpoints are in use by an earlier one waits
// for it to end, so port reuse stays in order.
func (s *Scenario) schedule(st *Stats, visit func(c *Conn, p *pkt) error) error {
	conc := s.Concurrency
	if conc <= 0 {
		conc = len(s.Conns)
	}
	rng := rand.New(rand.NewPCG(s.Seed, 0x5ced))
	type open struct {
		conn int
		ps   []pkt
		next int
	}
	type tuple struct{ a, b netip.AddrPort }
	key := func(c *Conn) tuple {
		if c.Client.Compare(c.Server) < 0 {
			return tuple{c.Client, c.Server}
		}
		return tuple{c.Server, c.Client}
	}
	busy := map[tuple]bool{}
	var active []open
	admitted := 0
	for {
		for len(active) < conc && admitted < len(s.Conns) && !busy[key(&s.Conns[admitted])] {
			busy[key(&s.Conns[admitted])] = true
			active = append(active, open{conn: admitted, ps: s.connPackets(admitted, st)})
			admitted++
		}
		if len(active) == 0 {
			return nil
		}
		j := rng.IntN(len(active))
		a := &active[j]
		if a.next < len(a.ps) {
			c := &s.Conns[a.conn]
			if err := visit(c, &a.ps[a.next]); err != nil {
				return err
			}
			a.next++
		}
		if a.next == len(a.ps) {
			delete(busy, key(&s.Conns[a.conn]))
			active[j] = active[len(active)-1]
			active = active[:len(active)-1]
		}
	}
}
