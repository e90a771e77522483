package socket

import (
	"encoding/binary"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/sentry/kernel/auth"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

// Control message layout on amd64: struct cmsghdr is {u64 len; i32 level;
// i32 type}, data follows, everything aligned to 8.
const (
	cmsgHdrLen = 16
	// MaxRights is SCM_MAX_FD: descriptors one message may carry.
	MaxRights = 253
	// OverflowID is the uid/gid reported for credentials nobody gave.
	OverflowID = 65534
)

func cmsgAlign(n int) int { return (n + 7) &^ 7 }

// CmsgSpace is CMSG_SPACE(n).
func CmsgSpace(n int) int { return cmsgHdrLen + cmsgAlign(n) }

// CmsgLen is CMSG_LEN(n).
func CmsgLen(n int) int { return cmsgHdrLen + n }

// ParseControl decodes sendmsg's msg_control. lookup returns the open file
// of an fd with a reference (nil: EBADF). On success the returned
// ControlMessages own references on Rights; on error none are held.
// Messages of other levels are skipped, as Linux does; unknown SOL_SOCKET
// types are EINVAL; SCM_CREDENTIALS must name the caller unless it holds
// CAP_SYS_ADMIN (pid), CAP_SETUID (uid) or CAP_SETGID (gid), else EPERM.
func ParseControl(ctx vfs.Context, buf []byte, lookup func(fd int32) *vfs.FileDescription) (cm ControlMessages, err error) {
	defer func() {
		if err != nil {
			cm.Release(ctx)
		}
	}()
	for off := 0; off+cmsgHdrLen <= len(buf); {
		clen := binary.LittleEndian.Uint64(buf[off:])
		level := int32(binary.LittleEndian.Uint32(buf[off+8:]))
		typ := int32(binary.LittleEndian.Uint32(buf[off+12:]))
		if clen < cmsgHdrLen || clen > uint64(len(buf)-off) {
			return cm, unix.EINVAL
		}
		data := buf[off+cmsgHdrLen : off+int(clen)]
		if level == unix.SOL_SOCKET {
			switch typ {
			case unix.SCM_RIGHTS:
				n := len(data) / 4
				if len(cm.Rights)+n > MaxRights {
					return cm, unix.EINVAL
				}
				for i := 0; i < n; i++ {
					fd := int32(binary.LittleEndian.Uint32(data[i*4:]))
					f := lookup(fd)
					if f == nil {
						return cm, unix.EBADF
					}
					cm.Rights = append(cm.Rights, f)
				}
			case unix.SCM_CREDENTIALS:
				if len(data) != 12 {
					return cm, unix.EINVAL
				}
				c := Creds{
					PID: int32(binary.LittleEndian.Uint32(data[0:])),
					UID: binary.LittleEndian.Uint32(data[4:]),
					GID: binary.LittleEndian.Uint32(data[8:]),
				}
				if err := checkCreds(ctx, c); err != nil {
					return cm, err
				}
				cm.Creds = &c
			default:
				return cm, unix.EINVAL
			}
		}
		off += cmsgAlign(int(clen))
	}
	return cm, nil
}

func checkCreds(ctx vfs.Context, c Creds) error {
	cr := ctx.Credentials()
	if c.PID != PIDOf(ctx) && !cr.HasCapability(auth.CapSysAdmin) {
		return unix.EPERM
	}
	uid := auth.KUID(c.UID)
	if uid != cr.RealUID && uid != cr.EffectiveUID && uid != cr.SavedUID && !cr.HasCapability(auth.CapSetuid) {
		return unix.EPERM
	}
	gid := auth.KGID(c.GID)
	if gid != cr.RealGID && gid != cr.EffectiveGID && gid != cr.SavedGID && !cr.HasCapability(auth.CapSetgid) {
		return unix.EPERM
	}
	return nil
}

// EncodeControl builds recvmsg's msg_control for at most space bytes, as
// Linux's put_cmsg and scm_detach_fds do: SCM_CREDENTIALS first (when
// cm.Creds is set: the socket sets it when SO_PASSCRED is on), then
// SCM_RIGHTS, installing each file with install (which returns
// the new fd). Files that do not fit, or that install refuses, are
// released and MSG_CTRUNC is reported. cm's references are consumed.
func EncodeControl(ctx vfs.Context, cm *ControlMessages, space int, install func(*vfs.FileDescription) (int32, error)) (out []byte, msgFlags int) {
	put := func(level, typ int32, data []byte) {
		left := space - len(out)
		if left < cmsgHdrLen {
			msgFlags |= unix.MSG_CTRUNC
			return
		}
		clen := CmsgLen(len(data))
		if clen > left {
			msgFlags |= unix.MSG_CTRUNC
			clen = left
		}
		var h [cmsgHdrLen]byte
		binary.LittleEndian.PutUint64(h[0:], uint64(clen))
		binary.LittleEndian.PutUint32(h[8:], uint32(level))
		binary.LittleEndian.PutUint32(h[12:], uint32(typ))
		out = append(out, h[:]...)
		out = append(out, data[:clen-cmsgHdrLen]...)
		if pad := min(CmsgSpace(len(data)), left) - clen; pad > 0 {
			out = append(out, make([]byte, pad)...)
		}
	}
	if cm.Creds != nil {
		put(unix.SOL_SOCKET, unix.SCM_CREDENTIALS, cm.Creds.Marshal())
	}
	if len(cm.Rights) > 0 {
		left := space - len(out)
		maxFDs := 0
		if left > cmsgHdrLen {
			maxFDs = (left - cmsgHdrLen) / 4
		}
		var fds []byte
		i := 0
		for ; i < len(cm.Rights) && i < maxFDs; i++ {
			fd, err := install(cm.Rights[i])
			if err != nil {
				break
			}
			fds = binary.LittleEndian.AppendUint32(fds, uint32(fd))
		}
		if i > 0 {
			put(unix.SOL_SOCKET, unix.SCM_RIGHTS, fds)
		}
		if i < len(cm.Rights) {
			msgFlags |= unix.MSG_CTRUNC
		}
		// install took its own references.
		cm.Release(ctx)
	}
	for _, c := range cm.IP {
		put(c.Level, c.Type, c.Data)
	}
	return out, msgFlags
}
