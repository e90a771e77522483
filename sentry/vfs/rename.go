package vfs

import (
	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/sentry/kernel/auth"
)

// RenameAt implements rename(2) and renameat2(2) (flags RENAME_NOREPLACE,
// RENAME_EXCHANGE). It holds renameMu for writing, so it is alone in the
// tree.
func (v *VirtualFilesystem) RenameAt(ctx Context, oldpop, newpop *PathOperation, flags uint32) error {
	if flags&^(linux.RENAME_NOREPLACE|linux.RENAME_EXCHANGE|linux.RENAME_WHITEOUT) != 0 {
		return unix.EINVAL
	}
	if flags&linux.RENAME_EXCHANGE != 0 && flags&(linux.RENAME_NOREPLACE|linux.RENAME_WHITEOUT) != 0 {
		return unix.EINVAL
	}
	if flags&linux.RENAME_WHITEOUT != 0 {
		return unix.EINVAL
	}
	exchange := flags&linux.RENAME_EXCHANGE != 0
	v.renameMu.Lock()
	defer v.endWrite()
	op, err := v.beginParentOp(ctx, oldpop)
	if err != nil {
		return err
	}
	np, err := v.beginParentOp(ctx, newpop)
	if err != nil {
		return err
	}
	if op.name == "" || op.name == "." || op.name == ".." || np.name == "" || np.name == "." || np.name == ".." {
		return unix.EBUSY
	}
	if op.parent.Mount != np.parent.Mount {
		return unix.EXDEV
	}
	if op.parent.Mount.ReadOnly() {
		return unix.EROFS
	}
	oldDir, newDir := op.parent.Dentry, np.parent.Dentry
	// renameMu is held for writing: nobody else is in the tree, but the
	// dirMu convention for children maps still holds.
	oldDir.dirMu.Lock()
	defer oldDir.dirMu.Unlock()
	if newDir != oldDir {
		newDir.dirMu.Lock()
		defer newDir.dirMu.Unlock()
	}
	oldChild, err := v.lookupChildLocked(ctx, oldDir, op.name)
	if err != nil {
		return err
	}
	oldSt, err := oldChild.inode.Stat(ctx)
	if err != nil {
		return err
	}
	oldIsDir := fileType(&oldSt) == linux.S_IFDIR
	newChild, err := v.lookupChildLocked(ctx, newDir, np.name)
	if err != nil && err != unix.ENOENT {
		return err
	}
	var newSt linux.Statx
	if newChild != nil {
		if newSt, err = newChild.inode.Stat(ctx); err != nil {
			return err
		}
	}
	newIsDir := newChild != nil && fileType(&newSt) == linux.S_IFDIR
	if newChild == nil && exchange {
		return unix.ENOENT
	}
	if (op.trailing || np.trailing) && !oldIsDir {
		return unix.ENOTDIR
	}
	if np.trailing && exchange && !newIsDir {
		return unix.ENOTDIR
	}
	if newChild != nil && flags&linux.RENAME_NOREPLACE != 0 {
		return unix.EEXIST
	}
	creds := op.r.creds
	if err := mayDelete(creds, &op.dirSt, &oldSt); err != nil {
		return err
	}
	if newChild != nil {
		if err := mayDelete(creds, &np.dirSt, &newSt); err != nil {
			return err
		}
	} else if err := mayCreate(creds, &np.dirSt); err != nil {
		return err
	}
	if newChild == oldChild || (newChild != nil && newChild.inode == oldChild.inode) {
		return nil // Same file: nothing to do.
	}
	if !exchange && newChild != nil {
		if oldIsDir && !newIsDir {
			return unix.ENOTDIR
		}
		if !oldIsDir && newIsDir {
			return unix.EISDIR
		}
	}
	// A directory moving to another parent rewrites its "..".
	if oldDir != newDir {
		if oldIsDir {
			if err := mayAccess(creds, &oldSt, auth.MayWrite); err != nil {
				return err
			}
		}
		if exchange && newIsDir {
			if err := mayAccess(creds, &newSt, auth.MayWrite); err != nil {
				return err
			}
		}
	}
	// No directory may move below itself.
	if oldIsDir && isAncestor(oldChild, newDir) {
		return unix.EINVAL
	}
	if exchange && newIsDir && isAncestor(newChild, oldDir) {
		return unix.EINVAL
	}
	if !exchange && newChild != nil && isAncestor(newChild, oldDir) {
		return unix.ENOTEMPTY
	}
	if oldChild.isMountPoint() || (newChild != nil && newChild.isMountPoint()) {
		return unix.EBUSY
	}
	var replaced Inode
	if newChild != nil {
		replaced = newChild.inode
	}
	if err := op.dir.Rename(ctx, op.name, oldChild.inode, np.dir, np.name, replaced, flags); err != nil {
		return err
	}
	// Update the cache. Moved dentries stay on the LRU; a replaced one
	// leaves it.
	delete(oldDir.children, op.name)
	if newChild != nil {
		delete(newDir.children, np.name)
		if !exchange {
			v.lruRemove(newChild)
		}
		if exchange {
			newChild.parent.Store(oldDir)
			oname := op.name
			newChild.name.Store(&oname)
			oldDir.insertChildLocked(newChild)
		} else {
			newChild.dead.Store(true)
		}
	}
	oldChild.parent.Store(newDir)
	nname := np.name
	oldChild.name.Store(&nname)
	newDir.insertChildLocked(oldChild)
	return nil
}

// isAncestor reports whether a is d or one of d's ancestors in the same
// filesystem.
func isAncestor(a, d *Dentry) bool {
	for ; d != nil; d = d.parent.Load() {
		if d == a {
			return true
		}
	}
	return false
}
