// Package memmap defines how files are mapped into application memory. A
// Mappable is a file whose contents can be handed to the memory manager as
// pages of the memory file (sentry/memfile): tmpfs files are made of such pages
// already; files from the gofer keep a page cache of them (see Cache).
//
// The memory manager (sentry/mm) maps those pages directly for MAP_SHARED
// mappings and read-only (copy-on-write) for MAP_PRIVATE ones. The package is
// a leaf below both mm and vfs, so neither imports the other for this.
package memmap

import "github.com/runsc-cri/runsc-cri/sentry/memfile"

// Mappable is a file that can be mapped.
type Mappable interface {
	// Translate returns the memory-file ranges that hold the file's bytes
	// [off, off+length) (both page-aligned), in order, filling them from the
	// backing store as needed, and takes one reference on every returned
	// page for the caller (who drops it with memfile.File.DecRef). If
	// forWrite is set the caller maps them writable and shared, and the file
	// must treat them as possibly dirty. A range wholly beyond the end of
	// the file fails with unix.EFAULT (the application gets SIGBUS); a range
	// that straddles the end returns the part before it.
	Translate(off, length uint64, forWrite bool) ([]memfile.Range, error)

	// AddMapping and RemoveMapping tell the file that a mapping of
	// [off, off+length) was made or removed. When the last writable shared
	// mapping of a range goes, dirty pages are written back.
	AddMapping(off, length uint64, writableShared bool)
	RemoveMapping(off, length uint64, writableShared bool)

	// Sync writes dirty pages of [off, off+length) back to the backing store
	// (msync, fsync).
	Sync(off, length uint64) error
}
