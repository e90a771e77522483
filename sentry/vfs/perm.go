package vfs

import (
	"time"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/sentry/kernel/auth"
)

const capSysAdmin = auth.CapSysAdmin

func isDirSt(st *linux.Statx) bool { return fileType(st) == linux.S_IFDIR }

// mayAccess checks access (auth.May* bits) to the file st.
func mayAccess(creds *auth.Credentials, st *linux.Statx, access int) error {
	if creds.CanAccess(access, uint32(st.Mode)&0o7777, auth.KUID(st.UID), auth.KGID(st.GID), isDirSt(st)) {
		return nil
	}
	return unix.EACCES
}

// mayCreate checks that a new entry may be added to directory dirSt.
func mayCreate(creds *auth.Credentials, dirSt *linux.Statx) error {
	return mayAccess(creds, dirSt, auth.MayWrite|auth.MayExec)
}

// mayDelete checks that child may be removed from (or renamed out of)
// directory dir, including the sticky-bit rule.
func mayDelete(creds *auth.Credentials, dirSt, childSt *linux.Statx) error {
	if err := mayAccess(creds, dirSt, auth.MayWrite|auth.MayExec); err != nil {
		return err
	}
	if dirSt.Mode&linux.S_ISVTX != 0 {
		if creds.FSUID != auth.KUID(childSt.UID) && creds.FSUID != auth.KUID(dirSt.UID) &&
			!creds.HasCapability(auth.CapFowner) {
			return unix.EPERM
		}
	}
	return nil
}

// mayOwn checks that the caller owns st or has CAP_FOWNER.
func mayOwn(creds *auth.Credentials, st *linux.Statx) error {
	if creds.FSUID == auth.KUID(st.UID) || creds.HasCapability(auth.CapFowner) {
		return nil
	}
	return unix.EPERM
}

// newOwner returns the owner of a file created in dir (setgid directories
// pass their group on) and adjusts mode for an inherited setgid bit.
func newOwner(creds *auth.Credentials, dirSt *linux.Statx, mode uint32) (auth.KUID, auth.KGID, uint32) {
	gid := creds.FSGID
	if dirSt.Mode&linux.S_ISGID != 0 {
		gid = auth.KGID(dirSt.GID)
		if mode&linux.S_IFMT == linux.S_IFDIR {
			mode |= linux.S_ISGID
		}
	} else if mode&linux.S_IFMT != linux.S_IFDIR && mode&linux.S_ISGID != 0 &&
		!creds.InGroup(gid) && !creds.HasCapability(auth.CapFsetid) {
		mode &^= linux.S_ISGID
	}
	return creds.FSUID, gid, mode
}

// NowTimestamp returns the current time as a statx timestamp.
func NowTimestamp() linux.StatxTimestamp {
	now := time.Now()
	return linux.StatxTimestamp{Sec: now.Unix(), Nsec: uint32(now.Nanosecond())}
}

// setStatVD checks permissions for opts on vd, resolves UTIME_NOW and
// UTIME_OMIT, and applies it.
func (v *VirtualFilesystem) setStatVD(ctx Context, vd VirtualDentry, opts *SetStatOptions) error {
	return v.setStat(ctx, vd, opts, false)
}

func (v *VirtualFilesystem) setStat(ctx Context, vd VirtualDentry, optsIn *SetStatOptions, truncatePath bool) error {
	opts := *optsIn
	creds := ctx.Credentials()
	if opts.Mask&^(linux.STATX_MODE|linux.STATX_UID|linux.STATX_GID|linux.STATX_SIZE|linux.STATX_ATIME|linux.STATX_MTIME) != 0 {
		return unix.EINVAL
	}
	st, err := vd.Dentry.inode.Stat(ctx)
	if err != nil {
		return err
	}
	if opts.Mask&linux.STATX_SIZE != 0 {
		switch fileType(&st) {
		case linux.S_IFREG:
		case linux.S_IFDIR:
			return unix.EISDIR
		default:
			return unix.EINVAL
		}
		if opts.Size > 1<<62 {
			return unix.EFBIG
		}
	}
	if vd.Mount.ReadOnly() {
		return unix.EROFS
	}
	if opts.Mask&linux.STATX_SIZE != 0 && truncatePath {
		if err := mayAccess(creds, &st, auth.MayWrite); err != nil {
			return err
		}
	}
	if opts.Mask&linux.STATX_MODE != 0 {
		if err := mayOwn(creds, &st); err != nil {
			return err
		}
		opts.Mode &= 0o7777
		if !creds.InGroup(auth.KGID(st.GID)) && !creds.HasCapability(auth.CapFsetid) {
			opts.Mode &^= linux.S_ISGID
		}
	}
	if opts.Mask&(linux.STATX_UID|linux.STATX_GID) != 0 {
		if opts.Mask&linux.STATX_UID != 0 && opts.UID == auth.KUID(st.UID) {
			// No change is allowed for the owner (or anyone with CAP_CHOWN).
			if creds.FSUID != opts.UID && !creds.HasCapability(auth.CapChown) {
				return unix.EPERM
			}
		} else if opts.Mask&linux.STATX_UID != 0 && !creds.HasCapability(auth.CapChown) {
			return unix.EPERM
		}
		if opts.Mask&linux.STATX_GID != 0 && opts.GID != auth.KGID(st.GID) {
			if !creds.HasCapability(auth.CapChown) &&
				(creds.FSUID != auth.KUID(st.UID) || !creds.InGroup(opts.GID)) {
				return unix.EPERM
			}
		}
		if opts.Mask&linux.STATX_GID != 0 && opts.GID == auth.KGID(st.GID) &&
			creds.FSUID != auth.KUID(st.UID) && !creds.HasCapability(auth.CapChown) {
			return unix.EPERM
		}
		// Changing the owner of a non-directory drops setuid, and setgid
		// if group-executable.
		if fileType(&st) != linux.S_IFDIR && st.Mode&(linux.S_ISUID|linux.S_ISGID) != 0 {
			mode := uint32(st.Mode) & 0o7777
			if opts.Mask&linux.STATX_MODE != 0 {
				mode = opts.Mode
			}
			mode &^= linux.S_ISUID
			if mode&0o010 != 0 {
				mode &^= linux.S_ISGID
			}
			opts.Mask |= linux.STATX_MODE
			opts.Mode = mode
		}
	}
	if opts.Mask&(linux.STATX_ATIME|linux.STATX_MTIME) != 0 {
		now := NowTimestamp()
		allNow := true
		for _, t := range []struct {
			bit uint32
			ts  *linux.StatxTimestamp
		}{{linux.STATX_ATIME, &opts.Atime}, {linux.STATX_MTIME, &opts.Mtime}} {
			if opts.Mask&t.bit == 0 {
				continue
			}
			switch t.ts.Nsec {
			case linux.UTIME_OMIT:
				opts.Mask &^= t.bit
			case linux.UTIME_NOW:
				*t.ts = now
			default:
				allNow = false
			}
		}
		if opts.Mask&(linux.STATX_ATIME|linux.STATX_MTIME) != 0 {
			if allNow {
				// Setting to now needs ownership or write access.
				if mayOwn(creds, &st) != nil && mayAccess(creds, &st, auth.MayWrite) != nil {
					return unix.EACCES
				}
			} else if err := mayOwn(creds, &st); err != nil {
				return err
			}
		}
	}
	if opts.Mask == 0 {
		return nil
	}
	return vd.Dentry.inode.SetStat(ctx, &opts)
}
