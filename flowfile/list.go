package flowfile

// A sink keeps its files on three lists: its open descriptors, its files
// by how many buffer pages they hold (one list per count), and its files
// holding pages by when their buffers last grew. Each list is intrusive,
// a pair of links in the file, so that moving a file costs no allocation.

// listID names the list a file's links belong to.
type listID uint8

const (
	fdList   listID = iota // open descriptors, the most recently used first
	pageList               // the files holding as many pages, the newest first
	growList               // the files holding pages, the buffer that grew last first
	numLists
)

type links struct{ newer, older *file }

// fileList is one list of files, the newest at the front.
type fileList struct{ newest, oldest *file }

// push puts f, which is on no list id, at the front.
func (l *fileList) push(f *file, id listID) {
	f.links[id] = links{older: l.newest}
	if l.newest != nil {
		l.newest.links[id].newer = f
	} else {
		l.oldest = f
	}
	l.newest = f
}

// unlink takes f off the list.
func (l *fileList) unlink(f *file, id listID) {
	ln := &f.links[id]
	if ln.newer != nil {
		ln.newer.links[id].older = ln.older
	} else {
		l.newest = ln.older
	}
	if ln.older != nil {
		ln.older.links[id].newer = ln.newer
	} else {
		l.oldest = ln.newer
	}
	*ln = links{}
}

// touch moves f, which is on the list, to the front. It is called for
// every buffered write: the test is inlined, the move is not.
func (l *fileList) touch(f *file, id listID) {
	if l.newest != f {
		l.toFront(f, id)
	}
}

func (l *fileList) toFront(f *file, id listID) {
	l.unlink(f, id)
	l.push(f, id)
}
