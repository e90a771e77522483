package host

import (
	"encoding/binary"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

// termiosSize is the size of the kernel's struct termios that
// TCGETS/TCSETS* copy (x86-64: four flag words, c_line, 19 c_cc bytes).
const termiosSize = 36

// fionread is FIONREAD (TIOCINQ on Linux).
const fionread = unix.TIOCINQ

// winsizeSize is sizeof(struct winsize).
const winsizeSize = 8

// processGroupCaller is implemented by the kernel's *Task.
type processGroupCaller interface {
	ProcessGroupID() int32
}

// Ioctl implements vfs.FileImpl.Ioctl.
func (f *file) Ioctl(ctx vfs.IoctlContext, fd *vfs.FileDescription, cmd uint32, arg uintptr) (uintptr, error) {
	if cmd == fionread {
		if f.kind == kindRegular {
			return 0, unix.ENOTTY
		}
		n, err := unix.IoctlGetInt(f.fd, unix.TIOCINQ)
		if err != nil {
			return 0, toErrno(err)
		}
		return 0, copyOutU32(ctx, arg, uint32(n))
	}
	if !f.tty {
		return 0, unix.ENOTTY
	}
	switch cmd {
	case unix.TCGETS:
		t, err := unix.IoctlGetTermios(f.fd, unix.TCGETS)
		if err != nil {
			return 0, toErrno(err)
		}
		return 0, copyOut(ctx, arg, encodeTermios(t))
	case unix.TCSETS, unix.TCSETSW, unix.TCSETSF:
		b := make([]byte, termiosSize)
		if err := copyIn(ctx, arg, b); err != nil {
			return 0, err
		}
		// The host tty may still hold the ispeed/ospeed fields we do not
		// copy; start from its current settings.
		t, err := unix.IoctlGetTermios(f.fd, unix.TCGETS)
		if err != nil {
			return 0, toErrno(err)
		}
		decodeTermios(b, t)
		return 0, toErrno(unix.IoctlSetTermios(f.fd, uint(cmd), t))
	case unix.TIOCGWINSZ:
		w, err := unix.IoctlGetWinsize(f.fd, unix.TIOCGWINSZ)
		if err != nil {
			return 0, toErrno(err)
		}
		b := make([]byte, winsizeSize)
		binary.LittleEndian.PutUint16(b[0:], w.Row)
		binary.LittleEndian.PutUint16(b[2:], w.Col)
		binary.LittleEndian.PutUint16(b[4:], w.Xpixel)
		binary.LittleEndian.PutUint16(b[6:], w.Ypixel)
		return 0, copyOut(ctx, arg, b)
	case unix.TIOCSWINSZ:
		b := make([]byte, winsizeSize)
		if err := copyIn(ctx, arg, b); err != nil {
			return 0, err
		}
		w := &unix.Winsize{
			Row:    binary.LittleEndian.Uint16(b[0:]),
			Col:    binary.LittleEndian.Uint16(b[2:]),
			Xpixel: binary.LittleEndian.Uint16(b[4:]),
			Ypixel: binary.LittleEndian.Uint16(b[6:]),
		}
		return 0, toErrno(unix.IoctlSetWinsize(f.fd, unix.TIOCSWINSZ, w))
	case unix.TIOCGPGRP:
		f.mu.Lock()
		pg := f.fgPG
		f.mu.Unlock()
		if pg == 0 {
			if c, ok := ctx.(processGroupCaller); ok {
				pg = c.ProcessGroupID()
			}
		}
		return 0, copyOutU32(ctx, arg, uint32(pg))
	case unix.TIOCSPGRP:
		b := make([]byte, 4)
		if err := copyIn(ctx, arg, b); err != nil {
			return 0, err
		}
		pg := int32(binary.LittleEndian.Uint32(b))
		if pg <= 0 {
			return 0, unix.EINVAL
		}
		f.mu.Lock()
		f.fgPG = pg
		f.mu.Unlock()
		return 0, nil
	case unix.TIOCSCTTY, unix.TIOCNOTTY:
		// The sandbox has no controlling-terminal bookkeeping yet: accept.
		return 0, nil
	}
	return 0, unix.ENOTTY
}

func encodeTermios(t *unix.Termios) []byte {
	b := make([]byte, termiosSize)
	binary.LittleEndian.PutUint32(b[0:], t.Iflag)
	binary.LittleEndian.PutUint32(b[4:], t.Oflag)
	binary.LittleEndian.PutUint32(b[8:], t.Cflag)
	binary.LittleEndian.PutUint32(b[12:], t.Lflag)
	b[16] = t.Line
	copy(b[17:], t.Cc[:])
	return b
}

func decodeTermios(b []byte, t *unix.Termios) {
	t.Iflag = binary.LittleEndian.Uint32(b[0:])
	t.Oflag = binary.LittleEndian.Uint32(b[4:])
	t.Cflag = binary.LittleEndian.Uint32(b[8:])
	t.Lflag = binary.LittleEndian.Uint32(b[12:])
	t.Line = b[16]
	copy(t.Cc[:], b[17:termiosSize])
}

func copyIn(ctx vfs.IoctlContext, addr uintptr, b []byte) error {
	n, err := ctx.CopyIn(addr, b)
	if err != nil || n != len(b) {
		return unix.EFAULT
	}
	return nil
}

func copyOut(ctx vfs.IoctlContext, addr uintptr, b []byte) error {
	n, err := ctx.CopyOut(addr, b)
	if err != nil || n != len(b) {
		return unix.EFAULT
	}
	return nil
}

func copyOutU32(ctx vfs.IoctlContext, addr uintptr, v uint32) error {
	b := make([]byte, 4)
	binary.LittleEndian.PutUint32(b, v)
	return copyOut(ctx, addr, b)
}
