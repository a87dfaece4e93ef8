package reassembly

// Stats counts what a shard did. Byte counts are payload bytes.
type Stats struct {
	Packets     uint64 // segments handled
	Streams     uint64 // directions opened
	Connections uint64 // streams opened while their reverse direction was not open
	Ignored     uint64 // segments that neither belonged to nor could open a stream
	Stragglers  uint64 // segments of a closed stream whose data was already stored
	SYNIgnored  uint64 // SYNs repeated after data, ignored as tcpflow does

	Bytes         uint64 // payload received
	Retransmitted uint64
	Differed      uint64
	KeepAlives    uint64
	Violations    uint64
	OutOfOrder    uint64
	Inserts       uint64
	Holes         uint64 // holes left in closed streams
	HoleBytes     uint64
	Forced        uint64 // times held out-of-order data was written early, past a hole, for lack of memory

	Closed [numReasons]uint64 // streams closed, by Reason
	Open   int                // streams open now
}

// Shard owns the streams whose keys hash to it. One goroutine calls it;
// nothing in it is shared.
type Shard struct {
	cfg     Config
	sink    Sink
	checker Checker   // sink, if it can read back; nil otherwise
	frames  FrameSink // sink, if it takes frames; nil otherwise

	flows          map[Key]*Stream
	newest, oldest *Stream // open streams, most recently used first

	// Closed streams remembered for their stragglers, oldest first.
	linger  map[Key]*Stream
	lingerQ []*Stream
	lingerH int // index of the oldest in lingerQ

	free    []*Stream // recycled streams
	pool    pool
	scratch []span
	gaps    []span
	session uint64
	stats   Stats
}

// NewShard returns an empty shard that writes to sink.
func NewShard(cfg Config, sink Sink) *Shard {
	cfg = cfg.withDefaults()
	sh := &Shard{
		cfg:     cfg,
		sink:    sink,
		flows:   make(map[Key]*Stream),
		linger:  make(map[Key]*Stream),
		session: uint64(cfg.Index),
	}
	sh.checker, _ = sink.(Checker)
	sh.frames, _ = sink.(FrameSink)
	return sh
}

// Stats returns the shard's counters. Call it from the shard's goroutine,
// or after Finish.
func (sh *Shard) Stats() Stats {
	st := sh.stats
	st.Open = len(sh.flows)
	return st
}

// Handle places one segment. seg and its payload are not kept. An error
// comes from the sink (the disk is full...) and leaves the shard unusable.
func (sh *Shard) Handle(seg *Segment) error {
	sh.stats.Packets++
	n := len(seg.Payload)
	syn, fin, rst := seg.Flags.Has(SYN), seg.Flags.Has(FIN), seg.Flags.Has(RST)

	s := sh.flows[seg.Key]
	if s != nil && sh.cfg.IdleTimeout > 0 && seg.Time-s.Last > sh.cfg.IdleTimeout {
		if err := sh.close(s, Timeout); err != nil {
			return err
		}
		s = nil
	}
	if s != nil && syn {
		switch {
		case seg.Seq != s.ISN && !fin && !rst:
			// Another ISN: a new connection on the same 4-tuple. tcpflow
			// drops this SYN and writes the new data into the old file.
			// (SYN with FIN or RST opens nothing: a scan or garbage.)
			if err := sh.close(s, NewSYN); err != nil {
				return err
			}
			s = nil
		case s.SYN && s.pos > 0:
			// A SYN again after data: tcpflow ignores the whole segment.
			sh.stats.SYNIgnored++
			return nil
		}
	}
	if s == nil {
		// tcpflow opens a stream with a SYN or with data, nothing else.
		if n == 0 && (!syn || fin || rst) {
			sh.stats.Ignored++
			return nil
		}
		if n > 0 && sh.isStraggler(seg) {
			sh.stats.Stragglers++
			return nil
		}
		var err error
		if s, err = sh.open(seg); err != nil {
			return err
		}
	} else if d := int64(seg.Seq.Diff(s.ISN.Add(1 + s.pos))); d > sh.cfg.MaxGap || -d > sh.cfg.MaxGap {
		if err := sh.close(s, Gap); err != nil {
			return err
		}
		if !syn && n == 0 {
			sh.stats.Ignored++
			return nil
		}
		var err error
		if s, err = sh.open(seg); err != nil {
			return err
		}
	}

	s.Last = seg.Time
	s.Packets++
	s.WireBytes += uint64(seg.WireLen)
	s.CapBytes += uint64(seg.CapLen)
	sh.touch(s)
	if seg.Frame != nil && sh.frames != nil {
		if err := sh.frames.Frame(s, seg.Frame, seg.LinkType, seg.Time, seg.WireLen); err != nil {
			return err
		}
	}
	if syn {
		s.SYN = true
		if !seg.Flags.Has(ACK) {
			s.Client = true
		}
		if n > 0 {
			s.Violations++ // as tcpflow counts it; the data is kept
		}
	}
	if n > 0 {
		off := s.offset(seg.Seq)
		if syn {
			off++ // a SYN's data starts after the SYN's own sequence number
		}
		if err := sh.place(s, off, seg.Payload); err != nil {
			return err
		}
	}
	if rst {
		return sh.close(s, RSTSeen)
	}
	if fin && !s.fin {
		s.fin = true
		s.finOff = s.offset(seg.Seq.Add(int64(n)))
		if syn {
			s.finOff++
		}
	}
	// Closed when every byte before the FIN arrived (tcpflow compares the
	// count of bytes seen with the FIN's offset).
	if s.fin && s.got.total == s.finOff {
		return sh.close(s, FINSeen)
	}
	return nil
}

// Tick tells the shard the capture clock (ns): streams idle for longer
// than the timeout close, and closed streams are forgotten after Linger.
func (sh *Shard) Tick(now int64) error {
	if t := sh.cfg.IdleTimeout; t > 0 {
		for sh.oldest != nil && now-sh.oldest.Last > t {
			if err := sh.close(sh.oldest, Timeout); err != nil {
				return err
			}
		}
	}
	if sh.cfg.Linger > 0 {
		for sh.lingerH < len(sh.lingerQ) && now-sh.lingerQ[sh.lingerH].closedAt > sh.cfg.Linger {
			sh.forgetOldest()
		}
	}
	return nil
}

// Finish closes every open stream, oldest first (reason End), and forgets
// the closed ones. It returns the first error but closes them all.
func (sh *Shard) Finish() error {
	var first error
	for sh.oldest != nil {
		if err := sh.close(sh.oldest, End); err != nil && first == nil {
			first = err
		}
	}
	for sh.lingerH < len(sh.lingerQ) {
		sh.forgetOldest()
	}
	return first
}

// open starts a stream for seg's direction.
func (sh *Shard) open(seg *Segment) (*Stream, error) {
	if len(sh.flows) >= sh.cfg.MaxFlows {
		if err := sh.close(sh.oldest, Evicted); err != nil {
			return nil, err
		}
	}
	var s *Stream
	if k := len(sh.free); k > 0 {
		s = sh.free[k-1]
		sh.free = sh.free[:k-1]
	} else {
		s = new(Stream)
	}
	s.Key = seg.Key
	s.VLAN = seg.VLAN
	s.SrcMAC, s.DstMAC = seg.SrcMAC, seg.DstMAC
	s.ISN = seg.Seq
	if !seg.Flags.Has(SYN) {
		s.ISN = seg.Seq.Add(-1) // the first data byte is offset 0
	}
	s.First, s.Last = seg.Time, seg.Time
	if peer := sh.flows[seg.Key.Reverse()]; peer != nil {
		s.Session = peer.Session
	} else {
		s.Session = sh.session
		sh.session += uint64(sh.cfg.Count)
		sh.stats.Connections++
	}
	sh.stats.Streams++
	sh.flows[seg.Key] = s
	s.older = nil
	s.newer = nil
	sh.pushNewest(s)
	return s, nil
}

// isStraggler reports whether seg's data is already in the file of the
// stream that last closed on its key (tcpflow's saved flows).
func (sh *Shard) isStraggler(seg *Segment) bool {
	l := sh.linger[seg.Key]
	if l == nil || sh.checker == nil {
		return false
	}
	off := l.offset(seg.Seq)
	if off < 0 {
		return false
	}
	held, differ, err := sh.checker.Check(l, off, seg.Payload)
	return err == nil && held == len(seg.Payload) && differ == 0
}

// place puts n = len(p) bytes at offset off of s.
func (sh *Shard) place(s *Stream, off int64, p []byte) error {
	n := int64(len(p))
	if sh.cfg.Arrival {
		// No reassembly: every payload after the previous one. The ranges
		// received still decide when a FIN closes the stream.
		s.Payload += uint64(n)
		sh.stats.Bytes += uint64(n)
		if err := sh.receive(s, max(off, 0), max(off+n, 0)); err != nil {
			return err
		}
		s.pos = max(off+n, 0)
		if err := sh.sink.Write(s, s.next, p); err != nil {
			return err
		}
		s.next += n
		s.Size = s.next
		return nil
	}
	late := false // before the end of the previous segment
	if off < 0 {
		// Data from before the first byte. With a SYN seen it cannot be
		// (tcpflow drops it); without, the ISN was guessed from a later
		// segment: move what is stored to make room (tcpflow's insert),
		// as long as the bytes moved stay within MaxShift.
		if s.SYN || s.shifted+s.Size > sh.cfg.MaxShift {
			s.Violations++
			sh.stats.Violations++
			return nil
		}
		if err := sh.shift(s, -off); err != nil {
			return err
		}
		off = 0
		late = true
	} else if off != s.pos {
		if n == 1 && off == s.pos-1 {
			// RFC 1122 keep-alive: one garbage byte just before the edge.
			s.KeepAlives++
			sh.stats.KeepAlives++
			return nil
		}
		if off < s.pos {
			s.OutOfOrder++
			sh.stats.OutOfOrder++
			late = true
		}
	}
	end := off + n
	s.pos = end
	s.Payload += uint64(n)
	sh.stats.Bytes += uint64(n)

	var seen, differ uint64 // of this segment's bytes: received before, and unlike the copy held
	if len(s.got.s) > 0 && s.got.s[0].lo < end && s.got.s[len(s.got.s)-1].hi > off {
		r, d := s.Retransmitted, s.Differed
		if err := sh.countOverlap(s, off, p); err != nil {
			return err
		}
		seen, differ = s.Retransmitted-r, s.Differed-d
	}
	if sh.cfg.OnEvent != nil && (late || seen > 0) {
		sh.event(s, off, int(n), late, seen, differ)
	}
	if end > s.Size {
		s.Size = end
	}
	// Fast path: in order, nothing held.
	if off == s.next && len(s.ooo.c) == 0 {
		s.got.add(off, end)
		s.next = end
		return sh.sink.Write(s, off, p)
	}
	sh.gaps = s.got.gaps(sh.gaps[:0], off, end)
	if err := sh.receive(s, off, end); err != nil {
		return err
	}
	if sh.cfg.Overlap == FirstWins {
		// Only the bytes never received; gaps is sorted, so each piece
		// may find the delivered edge moved up to it by the previous one.
		for i := 0; i < len(sh.gaps); i++ {
			g := sh.gaps[i]
			if err := sh.deliver(s, g.lo, p[g.lo-off:g.hi-off], sh.gaps[i:i+1], false); err != nil {
				return err
			}
		}
		return nil
	}
	return sh.deliver(s, off, p, sh.gaps, true)
}

// receive adds [lo, hi) to the ranges s received.
func (sh *Shard) receive(s *Stream, lo, hi int64) error {
	s.got.add(lo, hi)
	if len(s.got.s) > sh.cfg.MaxSpans {
		// Too many separate ranges (a hostile pattern): give up the lowest
		// gap as a hole so that the bookkeeping stays bounded. Held data is
		// written first, so that the gap lies below the delivered edge,
		// where data still arriving is written whatever got says.
		if err := sh.flushHeld(s); err != nil {
			return err
		}
		s.lostBytes += s.got.fillLowestGap()
		s.lostHoles++
	}
	return nil
}

// countOverlap adds to s's counters the bytes of p (at off) received
// before, and how many of them differ from the copy held.
func (sh *Shard) countOverlap(s *Stream, off int64, p []byte) error {
	sh.scratch = s.got.covered(sh.scratch[:0], off, off+int64(len(p)))
	for _, c := range sh.scratch {
		s.Retransmitted += uint64(c.hi - c.lo)
		sh.stats.Retransmitted += uint64(c.hi - c.lo)
		var d int64
		if c.hi > s.next {
			lo := max(c.lo, s.next)
			d += s.ooo.compare(lo, p[lo-off:c.hi-off])
		}
		if c.lo < s.next && sh.checker != nil {
			hi := min(c.hi, s.next)
			_, differ, err := sh.checker.Check(s, c.lo, p[c.lo-off:hi-off])
			if err != nil {
				return err
			}
			d += int64(differ)
		}
		s.Differed += uint64(d)
		sh.stats.Differed += uint64(d)
	}
	return nil
}

// deliver applies p at off: below the delivered edge it goes to the sink
// at once (it replaces bytes, or fills a hole); at the edge too, followed
// by the held data it joins; past the edge it is held. gaps are the parts
// of [off, off+len(p)) not received before; overwrite says whether p
// replaces held bytes it overlaps.
func (sh *Shard) deliver(s *Stream, off int64, p []byte, gaps []span, overwrite bool) error {
	end := off + int64(len(p))
	if off < s.next {
		c := min(end, s.next)
		if err := sh.sink.Write(s, off, p[:c-off]); err != nil {
			return err
		}
		if end <= s.next {
			return nil
		}
		p = p[c-off:]
		off = c
	}
	if off == s.next {
		if err := sh.sink.Write(s, off, p); err != nil {
			return err
		}
		s.next = end
		return sh.drain(s)
	}
	for len(gaps) > 0 && gaps[0].hi <= off {
		gaps = gaps[1:]
	}
	added := s.ooo.insert(&sh.pool, off, p, clip(gaps, off), overwrite)
	// Held data is capped per stream and across shards: past either cap it
	// is written now, holes before it left as they are, so memory stays
	// bounded whatever the capture; files come out the same.
	if !sh.cfg.Pending.take(added) || s.ooo.bytes > sh.cfg.MaxPendingStream {
		sh.stats.Forced++
		return sh.flushHeld(s)
	}
	return nil
}

// clip trims the first gap so that none starts before off.
func clip(gaps []span, off int64) []span {
	if len(gaps) > 0 && gaps[0].lo < off {
		gaps[0].lo = off
	}
	return gaps
}

// drain writes the held chunks that the delivered edge has reached.
func (sh *Shard) drain(s *Stream) error {
	q := &s.ooo
	k := 0
	for ; k < len(q.c) && q.c[k].off <= s.next; k++ {
		c := &q.c[k]
		if e := c.end(); e > s.next {
			if err := sh.sink.Write(s, s.next, c.data[s.next-c.off:]); err != nil {
				return err
			}
			s.next = e
		}
	}
	sh.release(s, k)
	return nil
}

// flushHeld writes every held chunk, leaving holes before them.
func (sh *Shard) flushHeld(s *Stream) error {
	q := &s.ooo
	for k := range q.c {
		c := &q.c[k]
		if e := c.end(); e > s.next {
			lo := max(c.off, s.next)
			if err := sh.sink.Write(s, lo, c.data[lo-c.off:]); err != nil {
				return err
			}
			s.next = e
		}
	}
	sh.release(s, len(q.c))
	return nil
}

// release frees the first k held chunks.
func (sh *Shard) release(s *Stream, k int) {
	if k == 0 {
		return
	}
	q := &s.ooo
	var freed int64
	for i := range k {
		freed += int64(cap(q.c[i].data))
		sh.pool.put(q.c[i].data)
		q.c[i].data = nil
	}
	n := copy(q.c, q.c[k:])
	clear(q.c[n:])
	q.c = q.c[:n]
	q.bytes -= freed
	sh.cfg.Pending.give(freed)
}

// shift makes room for n bytes in front of s's data.
func (sh *Shard) shift(s *Stream, n int64) error {
	if err := sh.sink.Shift(s, n); err != nil {
		return err
	}
	s.shifted += s.Size
	s.ISN = s.ISN.Add(-n)
	s.pos += n
	if s.next > 0 {
		s.next += n
	}
	s.Size += n
	s.finOff += n
	s.got.shift(n)
	s.ooo.shift(n)
	s.Inserts++
	s.OutOfOrder++
	sh.stats.Inserts++
	sh.stats.OutOfOrder++
	return nil
}

// close ends s: held data is written, holes counted, the sink told, and
// s remembered for a while to recognise its stragglers.
func (sh *Shard) close(s *Stream, why Reason) error {
	err := sh.flushHeld(s)
	if sh.cfg.Arrival {
		// Payloads were appended: the stream has no hole, whatever ranges
		// of sequence numbers its segments covered.
		s.got.s, s.got.total = s.got.s[:0], 0
		s.got.add(0, s.Size)
		s.lostHoles, s.lostBytes = 0, 0
	}
	sh.scratch = s.got.gaps(sh.scratch[:0], 0, s.Size)
	for _, g := range sh.scratch {
		s.Holes++
		s.HoleBytes += uint64(g.hi - g.lo)
	}
	s.Holes += uint64(s.lostHoles)
	s.HoleBytes += uint64(s.lostBytes)
	sh.stats.Holes += s.Holes
	sh.stats.HoleBytes += s.HoleBytes
	s.Reason = why
	peer := sh.flows[s.Key.Reverse()]
	s.PeerOpen = peer != nil && peer != s && peer.Session == s.Session
	sh.stats.Closed[why]++
	if cerr := sh.sink.Close(s); err == nil {
		err = cerr
	}
	delete(sh.flows, s.Key)
	sh.unlink(s)
	s.closedAt = s.Last
	if sh.cfg.Linger < 0 {
		sh.recycle(s)
		return err
	}
	sh.linger[s.Key] = s
	sh.lingerQ = append(sh.lingerQ, s)
	if len(sh.lingerQ)-sh.lingerH > sh.cfg.MaxLinger {
		sh.forgetOldest()
	}
	return err
}

// forgetOldest drops the oldest remembered closed stream.
func (sh *Shard) forgetOldest() {
	s := sh.lingerQ[sh.lingerH]
	sh.lingerQ[sh.lingerH] = nil
	sh.lingerH++
	if sh.lingerH == len(sh.lingerQ) {
		sh.lingerQ, sh.lingerH = sh.lingerQ[:0], 0
	} else if sh.lingerH > 1024 && sh.lingerH*2 > len(sh.lingerQ) {
		n := copy(sh.lingerQ, sh.lingerQ[sh.lingerH:])
		clear(sh.lingerQ[n:])
		sh.lingerQ, sh.lingerH = sh.lingerQ[:n], 0
	}
	if sh.linger[s.Key] == s {
		delete(sh.linger, s.Key)
	}
	sh.recycle(s)
}

// recycle keeps s's memory for a future stream.
func (sh *Shard) recycle(s *Stream) {
	got, ooo := s.got.s[:0], s.ooo.c[:0]
	*s = Stream{}
	s.got.s, s.ooo.c = got, ooo
	if len(sh.free) < 4096 {
		sh.free = append(sh.free, s)
	}
}

// The LRU list of open streams: newest at the head.

func (sh *Shard) pushNewest(s *Stream) {
	s.older = sh.newest
	s.newer = nil
	if sh.newest != nil {
		sh.newest.newer = s
	}
	sh.newest = s
	if sh.oldest == nil {
		sh.oldest = s
	}
}

func (sh *Shard) unlink(s *Stream) {
	if s.newer != nil {
		s.newer.older = s.older
	} else {
		sh.newest = s.older
	}
	if s.older != nil {
		s.older.newer = s.newer
	} else {
		sh.oldest = s.newer
	}
	s.newer, s.older = nil, nil
}

func (sh *Shard) touch(s *Stream) {
	if sh.newest != s {
		sh.unlink(s)
		sh.pushNewest(s)
	}
}
