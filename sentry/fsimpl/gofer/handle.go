package gofer

import (
	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/gofer/client"
)

// DefaultMaxHandles is the default of Options.MaxHandles.
const DefaultMaxHandles = 4096

// handle is an inode's gofer handle, and where to find the file again
// without it: its parent directory and name. It must not point to its own
// inode, since the inode's cleanup releases it.
//
// A handle is releasable when it holds a file, has a location (not the
// root) and is not detached; releasable handles are on the filesystem's LRU
// and count against Options.MaxHandles: one each, two for a directory that
// was read (the gofer then keeps a second descriptor to read it with). A detached handle (its name was
// unlinked or renamed over) cannot be found again, so it is kept while
// something may still need it (an open file, another hard link) and closed
// otherwise.
type handle struct {
	fs *filesystem
	// dev and ino identify the host file; a re-walk must find the same.
	dev, ino uint64

	// The fields below are guarded by filesystem.handleMu.
	file  *client.File // nil while released
	read  bool         // file was used to read the directory
	users int          // calls using file right now
	opens int          // open regular files of the inode
	// parent and name locate the file (nil parent: the root). Rename
	// and unlink change them under filesystem.locMu held for writing.
	parent   *dirInode
	name     string
	detached bool
	// linked is set on detach if the file had other names then: its
	// handle is kept until the inode is collected.
	linked bool
	// prev, next and onList link releasable handles, least recently used
	// first.
	prev, next *handle
	onList     bool
	// gone is set when the inode was collected.
	gone bool
}

// newHandle wraps a handle the gofer just gave for name in parent (nil
// for the root).
func (fs *filesystem) newHandle(f *client.File, st client.Stat, parent *dirInode, name string) *handle {
	h := &handle{fs: fs, dev: st.Dev, ino: st.Ino, file: f, parent: parent, name: name}
	fs.handleMu.Lock()
	fs.listUpdateLocked(h)
	victims := fs.trimLocked()
	fs.handleMu.Unlock()
	fs.closeFiles(victims)
	return h
}

func (h *handle) releasable() bool {
	return h.file != nil && h.parent != nil && !h.detached && !h.gone
}

// cost is what h counts against the budget: the gofer's descriptors.
func (h *handle) cost() int {
	if h.read {
		return 2
	}
	return 1
}

// setFileLocked installs f (nil to release) in h.
func (h *handle) setFileLocked(f *client.File) {
	h.file, h.read = f, false
}

// listUpdateLocked puts h on the LRU's tail or takes it off, as
// releasable says.
func (fs *filesystem) listUpdateLocked(h *handle) {
	if h.onList {
		fs.listRemoveLocked(h)
	}
	if !h.releasable() {
		return
	}
	h.prev, h.next, h.onList = fs.lruTail, nil, true
	if fs.lruTail != nil {
		fs.lruTail.next = h
	} else {
		fs.lruHead = h
	}
	fs.lruTail = h
	fs.lruCost += h.cost()
}

func (fs *filesystem) listRemoveLocked(h *handle) {
	if h.prev != nil {
		h.prev.next = h.next
	} else {
		fs.lruHead = h.next
	}
	if h.next != nil {
		h.next.prev = h.prev
	} else {
		fs.lruTail = h.prev
	}
	h.prev, h.next, h.onList = nil, nil, false
	fs.lruCost -= h.cost()
}

// markRead records that h's file was used to read its directory.
func (fs *filesystem) markRead(h *handle, f *client.File) {
	fs.handleMu.Lock()
	if h.file == f && !h.read {
		if h.onList {
			fs.listRemoveLocked(h)
		}
		h.read = true
		fs.listUpdateLocked(h)
	}
	victims := fs.trimLocked()
	fs.handleMu.Unlock()
	fs.closeFiles(victims)
}

// trimLocked releases the least recently used idle handles beyond the
// budget and returns their files, which the caller closes (closeFiles)
// after dropping handleMu.
func (fs *filesystem) trimLocked() []*client.File {
	var victims []*client.File
	for scan := fs.lruCost; fs.lruCost > fs.maxHandles && scan > 0; scan-- {
		h := fs.lruHead
		if h.users > 0 {
			// In use: look again later.
			fs.listUpdateLocked(h)
			continue
		}
		victims = append(victims, h.file)
		fs.listRemoveLocked(h)
		h.setFileLocked(nil)
	}
	return victims
}

func (fs *filesystem) closeFiles(files []*client.File) {
	if len(files) > 0 {
		fs.client.CloseFiles(files...)
	}
}

// get returns the inode's file for a call, walking to it again if it was
// released; put must follow.
func (fs *filesystem) get(h *handle) (*client.File, error) {
	fs.handleMu.Lock()
	if f := h.file; f != nil {
		h.users++
		if h.onList && h != fs.lruTail {
			fs.listUpdateLocked(h)
		}
		fs.handleMu.Unlock()
		return f, nil
	}
	fs.handleMu.Unlock()
	return fs.reopen(h)
}

// put ends a call started by get.
func (fs *filesystem) put(h *handle) {
	fs.handleMu.Lock()
	h.users--
	fs.handleMu.Unlock()
}

// reopen walks from the nearest ancestor that holds a handle down to h, in
// one round trip, and installs the handles of every inode on the way. Each
// must be the host file it was (same device and inode number), or ESTALE.
func (fs *filesystem) reopen(h *handle) (*client.File, error) {
	// No rename or unlink may move a name between reading the location
	// and walking it.
	fs.locMu.RLock()
	defer fs.locMu.RUnlock()
	fs.handleMu.Lock()
	var chain []*handle // h first, then its ancestors without a file
	cur := h
	for cur.file == nil {
		if cur.detached || cur.parent == nil {
			fs.handleMu.Unlock()
			return nil, unix.ENOENT
		}
		chain = append(chain, cur)
		cur = cur.parent.h
	}
	if cur == h {
		// Reopened by someone else meanwhile.
		h.users++
		f := h.file
		fs.handleMu.Unlock()
		return f, nil
	}
	base, bf := cur, cur.file
	base.users++
	names := make([]string, len(chain))
	for k, c := range chain {
		names[len(chain)-1-k] = c.name
	}
	fs.handleMu.Unlock()

	files, stats, err := bf.Walk(names...)

	fs.handleMu.Lock()
	base.users--
	var extra []*client.File
	for k, f := range files {
		c := chain[len(chain)-1-k]
		if err == nil && (stats[k].Dev != c.dev || stats[k].Ino != c.ino) {
			err = unix.ESTALE
		}
		if err != nil || c.file != nil || c.gone {
			extra = append(extra, f)
			continue
		}
		c.setFileLocked(f)
		fs.listUpdateLocked(c)
	}
	var f *client.File
	if err == nil {
		if f = h.file; f == nil {
			err = unix.ESTALE
		} else {
			h.users++
		}
	}
	extra = append(extra, fs.trimLocked()...)
	fs.handleMu.Unlock()
	fs.closeFiles(extra)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// releaseIdle closes h's file now if it can be found again and nobody uses
// it (vfs evicted a dentry of the inode).
func (fs *filesystem) releaseIdle(h *handle) {
	fs.handleMu.Lock()
	var f *client.File
	if h.releasable() && h.users == 0 {
		f = h.file
		fs.listRemoveLocked(h)
		h.setFileLocked(nil)
	}
	fs.handleMu.Unlock()
	if f != nil {
		f.Close()
	}
}

// adopt gives h a file the gofer just returned for the same host file
// under name in parent (a hard link, or a name looked up again after its
// dentry was evicted while the inode lived on). The name is a valid
// location now, so a detached handle is anchored again. It reports whether
// h took f; if not the caller closes it.
func (fs *filesystem) adopt(h *handle, f *client.File, parent *dirInode, name string) bool {
	fs.handleMu.Lock()
	defer fs.handleMu.Unlock()
	h.parent, h.name, h.detached, h.linked = parent, name, false, false
	took := false
	if h.onList {
		fs.listRemoveLocked(h)
	}
	if h.file == nil {
		h.setFileLocked(f)
		took = true
	}
	fs.listUpdateLocked(h)
	return took
}

// moved records that the file named oldName in oldDir is now newName in
// newDir (locMu held for writing).
func (fs *filesystem) moved(h *handle, oldDir *dirInode, oldName string, newDir *dirInode, newName string) {
	fs.handleMu.Lock()
	if h.parent == oldDir && h.name == oldName {
		h.parent, h.name = newDir, newName
	}
	fs.handleMu.Unlock()
}

// removal says what losing a name means for the file of i: linked if it
// has other names (a non-directory whose cached link count is above 1),
// keep if its handle must be kept (linked, or open).
func (fs *filesystem) removal(i *inode) (keep, linked bool) {
	if i.kind != unix.S_IFDIR {
		i.mu.Lock()
		linked = !i.valid || i.st.Nlink > 1
		i.mu.Unlock()
	}
	fs.handleMu.Lock()
	keep = linked || i.h.opens > 0
	fs.handleMu.Unlock()
	return keep, linked
}

// detach records that name in dir, which named the file of h, was removed
// (locMu held for writing). If that was h's location the handle can no
// longer be found again: it is kept while the file is open or linked
// elsewhere, and closed (once idle) otherwise.
func (fs *filesystem) detach(h *handle, dir *dirInode, name string, linked bool) {
	fs.handleMu.Lock()
	var f *client.File
	if h.parent == dir && h.name == name && !h.detached {
		if h.onList {
			fs.listRemoveLocked(h)
		}
		h.detached, h.linked = true, linked
		if !linked && h.opens == 0 && h.users == 0 {
			f = h.file
			h.setFileLocked(nil)
		}
	}
	fs.handleMu.Unlock()
	if f != nil {
		f.Close()
	}
}

// opened and closed count the open regular files of an inode. The last
// close of an unlinked file without other names releases its handle.
func (fs *filesystem) opened(h *handle) {
	fs.handleMu.Lock()
	h.opens++
	fs.handleMu.Unlock()
}

func (fs *filesystem) closed(h *handle) {
	fs.handleMu.Lock()
	h.opens--
	var f *client.File
	if h.opens == 0 && h.detached && !h.linked && h.users == 0 {
		f = h.file
		h.setFileLocked(nil)
	}
	fs.handleMu.Unlock()
	if f != nil {
		f.Close()
	}
}

// collect runs when the inode of h is garbage: its handle goes.
func collectHandle(h *handle) {
	fs := h.fs
	fs.handleMu.Lock()
	if h.onList {
		fs.listRemoveLocked(h)
	}
	h.gone = true
	f := h.file
	h.setFileLocked(nil)
	fs.handleMu.Unlock()
	if f != nil {
		f.Close()
	}
}
