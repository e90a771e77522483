package gofer

import (
	"encoding/binary"

	"github.com/runsc-cri/runsc-cri/gofer/proto"
	"golang.org/x/sys/unix"
)

// getdents reads one page of directory entries. The node keeps one
// O_RDONLY descriptor of the directory (opened on first use), and every call
// seeks it to the cookie — 0 rewinds, otherwise a d_off the host gave for an
// earlier entry — so the gofer keeps no per-listing state, concurrent
// listings of one handle do not interfere (they take turns on node.dirMu),
// and filesystems that build a directory's listing at open (overlayfs
// merging its layers) do so once per handle, not once per page.
func (s *server) getdents(m proto.Message, e *proto.Encoder) (int, error) {
	req := m.(*proto.GetdentsReq)
	n, err := s.get(req.Dir)
	if err != nil {
		return -1, err
	}
	defer s.put(n)
	if n.kind != unix.S_IFDIR {
		return -1, unix.ENOTDIR
	}
	n.dirMu.Lock()
	defer n.dirMu.Unlock()
	if !n.hasDir {
		fd, err := unix.Openat(n.fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return -1, err
		}
		n.dirFD, n.hasDir = fd, true
	}
	fd := n.dirFD
	if _, err := unix.Seek(fd, int64(req.Cookie), 0); err != nil {
		return -1, err
	}
	// Room for the header, the count, and the entries.
	limit := proto.MaxMessage - proto.HeaderSize - 4
	if req.Size != 0 && int(req.Size) < limit {
		limit = int(req.Size)
	}
	var rep proto.GetdentsReply
	size := 0
	buf := make([]byte, 16<<10)
	full := false
	for !full {
		k, err := unix.Getdents(fd, buf)
		if err != nil {
			return -1, err
		}
		if k == 0 {
			break
		}
		for b := buf[:k]; len(b) >= 19; {
			reclen := int(binary.LittleEndian.Uint16(b[16:]))
			if reclen < 19 || reclen > len(b) {
				return -1, unix.EIO
			}
			name := b[19:reclen]
			for i, c := range name {
				if c == 0 {
					name = name[:i]
					break
				}
			}
			de := proto.Dirent{
				Ino:  binary.LittleEndian.Uint64(b[0:]),
				Next: binary.LittleEndian.Uint64(b[8:]),
				Type: b[18],
				Name: string(name),
			}
			b = b[reclen:]
			if de.Name == "." || de.Name == ".." {
				continue
			}
			sz := proto.DirentSize(len(de.Name))
			if size+sz > limit {
				if len(rep.Entries) == 0 {
					return -1, unix.EINVAL // buffer too small for one entry
				}
				full = true
				break
			}
			size += sz
			rep.Entries = append(rep.Entries, de)
		}
	}
	rep.Encode(e)
	return -1, nil
}

func (s *server) setattr(m proto.Message, e *proto.Encoder) (int, error) {
	req := m.(*proto.SetattrReq)
	if s.ro && req.Mask != 0 {
		return -1, unix.EROFS
	}
	n, err := s.get(req.Handle)
	if err != nil {
		return -1, err
	}
	defer s.put(n)
	if req.Mask&(proto.SetattrUID|proto.SetattrGID) != 0 {
		uid, gid := -1, -1
		if req.Mask&proto.SetattrUID != 0 {
			uid = int(req.UID)
		}
		if req.Mask&proto.SetattrGID != 0 {
			gid = int(req.GID)
		}
		if err := unix.Fchownat(n.fd, "", uid, gid, unix.AT_EMPTY_PATH); err != nil {
			return -1, err
		}
	}
	if req.Mask&proto.SetattrMode != 0 {
		if n.kind == unix.S_IFLNK {
			return -1, unix.EOPNOTSUPP // as fchmodat(AT_SYMLINK_NOFOLLOW)
		}
		if err := unix.Fchmodat(s.procFD, procName(n.fd), req.Mode&07777, 0); err != nil {
			return -1, err
		}
	}
	if req.Mask&proto.SetattrSize != 0 {
		switch n.kind {
		case unix.S_IFREG:
		case unix.S_IFDIR:
			return -1, unix.EISDIR
		default:
			return -1, unix.EINVAL
		}
		if int64(req.Size) < 0 {
			return -1, unix.EINVAL
		}
		fd, err := unix.Openat(s.procFD, procName(n.fd), unix.O_WRONLY|unix.O_CLOEXEC|unix.O_NOCTTY, 0)
		if err != nil {
			return -1, err
		}
		err = unix.Ftruncate(fd, int64(req.Size))
		unix.Close(fd)
		if err != nil {
			return -1, err
		}
	}
	if req.Mask&(proto.SetattrAtime|proto.SetattrMtime) != 0 {
		ts := []unix.Timespec{{Nsec: unix.UTIME_OMIT}, {Nsec: unix.UTIME_OMIT}}
		if req.Mask&proto.SetattrAtime != 0 {
			ts[0] = unix.Timespec{Sec: req.Atime.Sec, Nsec: req.Atime.Nsec}
		}
		if req.Mask&proto.SetattrMtime != 0 {
			ts[1] = unix.Timespec{Sec: req.Mtime.Sec, Nsec: req.Mtime.Nsec}
		}
		if err := unix.UtimesNanoAt(n.fd, "", ts, unix.AT_EMPTY_PATH|unix.AT_SYMLINK_NOFOLLOW); err != nil {
			return -1, err
		}
	}
	var st unix.Stat_t
	if err := unix.Fstat(n.fd, &st); err != nil {
		return -1, err
	}
	ps := toStat(&st)
	ps.Encode(e)
	return -1, nil
}
