package capture

import (
	"sync/atomic"
	"unsafe"
)

// A Block is a piece of an input held in memory. The packets that the
// Source of a file or a stream returns lie in its current block (see
// Holder): a caller that wants to keep a packet's bytes past the next call
// to Next, to hand them to another goroutine without copying them, retains
// the block and releases it when done. Once every reference is released
// the source reuses the memory.
type Block struct {
	buf  []byte
	refs atomic.Int32
	pool *blockPool // where it goes once released; nil: to the garbage collector
}

// Retain takes a reference to b: its bytes stay as they are until the
// matching Release. Only the goroutine that reads the source may retain.
func (b *Block) Retain() { b.refs.Add(1) }

// Release gives a reference back. Any goroutine may release.
func (b *Block) Release() {
	if b.refs.Add(-1) == 0 && b.pool != nil {
		b.pool.put(b)
	}
}

// Contains reports whether p lies within b's memory (a packet's bytes do;
// those of an IP datagram put together from fragments do not).
func (b *Block) Contains(p []byte) bool {
	if len(p) == 0 || len(b.buf) == 0 {
		return false
	}
	lo := uintptr(unsafe.Pointer(unsafe.SliceData(b.buf)))
	at := uintptr(unsafe.Pointer(unsafe.SliceData(p)))
	return at >= lo && at+uintptr(len(p)) <= lo+uintptr(cap(b.buf))
}

// Size returns the bytes of memory b holds.
func (b *Block) Size() int { return cap(b.buf) }

// A Holder is a Source whose packets lie in blocks that can outlive the
// next call to Next: the Sources of files and streams are Holders, live
// sockets are not (their ring belongs to the kernel).
type Holder interface {
	// Block returns the block that holds the bytes of the packet Next
	// returned last. The source holds a reference to it until it moves to
	// another block; Retain it to keep the bytes longer.
	Block() *Block
}

// blockPool recycles the blocks of one source. Released blocks come back
// from any goroutine; a few are kept, the others left to the garbage
// collector.
type blockPool struct {
	size int // of the blocks kept; larger ones (huge records) are not
	free chan *Block
}

// blocksKept bounds the free blocks a source keeps for reuse.
const blocksKept = 32

func newBlockPool(size int) *blockPool {
	return &blockPool{size: size, free: make(chan *Block, blocksKept)}
}

// get returns a block of at least n bytes with the caller's reference.
func (p *blockPool) get(n int) *Block {
	var b *Block
	if n <= p.size {
		select {
		case b = <-p.free:
		default:
			b = &Block{buf: make([]byte, p.size), pool: p}
		}
	} else {
		b = &Block{buf: make([]byte, n)}
	}
	b.refs.Store(1)
	return b
}

func (p *blockPool) put(b *Block) {
	select {
	case p.free <- b:
	default:
	}
}
