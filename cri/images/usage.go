package images

import (
	"io/fs"
	"path/filepath"
	"syscall"
	"time"
)

// FsUsage is the disk usage of a directory tree.
type FsUsage struct {
	Dir        string
	UsedBytes  uint64
	InodesUsed uint64
	Timestamp  int64 // unix nanoseconds of the measurement
}

// Usage measures the store's content and snapshot directories (allocated
// blocks, each inode counted once). Dir is the store root.
func (s *Store) Usage() (FsUsage, error) {
	u := FsUsage{Dir: s.root}
	seen := map[uint64]bool{}
	for _, d := range []string{"content", "snapshots"} {
		err := filepath.WalkDir(filepath.Join(s.root, d), func(p string, e fs.DirEntry, err error) error {
			if err != nil {
				return nil // raced with a removal
			}
			fi, err := e.Info()
			if err != nil {
				return nil
			}
			st, ok := fi.Sys().(*syscall.Stat_t)
			if !ok || seen[st.Ino] {
				return nil
			}
			seen[st.Ino] = true
			u.InodesUsed++
			u.UsedBytes += uint64(st.Blocks) * 512
			return nil
		})
		if err != nil {
			return u, err
		}
	}
	u.Timestamp = time.Now().UnixNano()
	return u, nil
}
