package sys

import (
	"fmt"
	"sort"
	"strings"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/abi/linux"

	"github.com/runsc-cri/runsc-cri/sentry/socket/inet"
	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

// /sys/class/net: one directory per interface of the pod's network stack
// (lo, the pod's eth0, bridges made inside the pod), listed afresh at
// every lookup, with the attribute files tools read: address, mtu,
// ifindex, flags, operstate, carrier, type, tx_queue_len and the
// statistics counters. Linux makes the entries symbolic links into
// /sys/devices/virtual/net; here they are the directories themselves.

// netClassDir is /sys/class/net.
type netClassDir struct {
	dir // empty fixed part: attributes and the read-only DirInode methods
	fs  *filesystem
	st  *inet.Stack
}

func (fs *filesystem) netClassDir(v *vfs.VirtualFilesystem) *netClassDir {
	return &netClassDir{dir: *fs.dir(nil), fs: fs, st: inet.StackFor(v)}
}

// interfaces returns the stack's interfaces by name (none if the stack
// cannot be built).
func (d *netClassDir) interfaces() map[string]inet.Interface {
	ifs, err := d.st.Interfaces()
	if err != nil {
		return nil
	}
	m := make(map[string]inet.Interface, len(ifs))
	for _, ifc := range ifs {
		m[ifc.Name] = ifc
	}
	return m
}

// Lookup implements vfs.DirInode.
func (d *netClassDir) Lookup(ctx vfs.Context, name string) (vfs.Inode, error) {
	ifc, ok := d.interfaces()[name]
	if !ok {
		return nil, unix.ENOENT
	}
	return d.fs.netIfDir(d.st, ifc.Index, name), nil
}

// Revalidate implements vfs.Revalidator: an interface may come and go
// (and a name be reused by another index).
func (d *netClassDir) Revalidate(ctx vfs.Context, name string, child vfs.Inode) bool {
	c, ok := child.(*dir)
	if !ok {
		return false
	}
	ifc, ok := d.interfaces()[name]
	return ok && c.ifindex == ifc.Index
}

// IterDirents implements vfs.DirInode.
func (d *netClassDir) IterDirents(ctx vfs.Context, cookie int64, emit func(vfs.Dirent) bool) error {
	ifs := d.interfaces()
	names := make([]string, 0, len(ifs))
	for n := range ifs {
		names = append(names, n)
	}
	sort.Strings(names)
	for i := int(cookie); i >= 0 && i < len(names); i++ {
		ino := uint64(1<<40) | uint64(ifs[names[i]].Index)
		if !emit(vfs.Dirent{Name: names[i], Ino: ino, Type: linux.DT_DIR, NextCookie: int64(i + 1)}) {
			return nil
		}
	}
	return nil
}

// netIfDir is /sys/class/net/<name> for the interface of index idx; its
// files read the interface's state when opened.
func (fs *filesystem) netIfDir(st *inet.Stack, idx int32, name string) *dir {
	attr := func(f func(inet.Interface) string) *genFile {
		return fs.genFile(func() (string, error) {
			ifs, err := st.Interfaces()
			if err != nil {
				return "", err
			}
			for _, ifc := range ifs {
				if ifc.Index == idx {
					return f(ifc) + "\n", nil
				}
			}
			return "", unix.ENODEV
		})
	}
	num := func(f func(inet.Interface) uint64) *genFile {
		return attr(func(ifc inet.Interface) string { return fmt.Sprint(f(ifc)) })
	}
	d := fs.dir(map[string]vfs.Inode{
		"address":      attr(func(ifc inet.Interface) string { return macString(ifc.HardwareAddr) }),
		"broadcast":    attr(func(ifc inet.Interface) string { return macString(broadcastOf(ifc.HardwareAddr, ifc.ARPType)) }),
		"addr_len":     num(func(ifc inet.Interface) uint64 { return uint64(len(ifc.HardwareAddr)) }),
		"mtu":          num(func(ifc inet.Interface) uint64 { return uint64(ifc.MTU) }),
		"ifindex":      num(func(ifc inet.Interface) uint64 { return uint64(ifc.Index) }),
		"iflink":       num(func(ifc inet.Interface) uint64 { return uint64(ifc.Index) }),
		"type":         num(func(ifc inet.Interface) uint64 { return uint64(ifc.ARPType) }),
		"flags":        attr(deviceFlags),
		"operstate":    attr(operstate),
		"carrier":      attr(func(ifc inet.Interface) string { return boolDigit(ifc.Flags&unix.IFF_UP != 0) }),
		"tx_queue_len": fs.file("1000\n"), // Linux's default for lo and Ethernet
		"statistics": fs.dir(map[string]vfs.Inode{
			"rx_bytes":   num(func(ifc inet.Interface) uint64 { return ifc.RxBytes }),
			"rx_packets": num(func(ifc inet.Interface) uint64 { return ifc.RxPackets }),
			"tx_bytes":   num(func(ifc inet.Interface) uint64 { return ifc.TxBytes }),
			"tx_packets": num(func(ifc inet.Interface) uint64 { return ifc.TxPackets }),
		}),
	})
	d.ifindex = idx
	return d
}

// deviceFlags are the flags as sysfs shows them: the device's own, without
// the link-state ones (RUNNING, LOWER_UP, DORMANT) that SIOCGIFFLAGS and
// netlink add from the operational state.
func deviceFlags(ifc inet.Interface) string {
	return fmt.Sprintf("0x%x", ifc.Flags&^(unix.IFF_RUNNING|unix.IFF_LOWER_UP|unix.IFF_DORMANT))
}

// operstate is RFC 2863's state as Linux names it: lo has no carrier
// notion ("unknown"), others are "up" or "down".
func operstate(ifc inet.Interface) string {
	switch {
	case ifc.Flags&unix.IFF_LOOPBACK != 0:
		return "unknown"
	case ifc.Flags&unix.IFF_UP != 0 && ifc.Flags&unix.IFF_RUNNING != 0:
		return "up"
	}
	return "down"
}

func boolDigit(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

func macString(hw []byte) string {
	parts := make([]string, len(hw))
	for i, b := range hw {
		parts[i] = fmt.Sprintf("%02x", b)
	}
	return strings.Join(parts, ":")
}

// broadcastOf is the link broadcast address: all ones for Ethernet, zeros
// for loopback.
func broadcastOf(hw []byte, arpType uint16) []byte {
	out := make([]byte, len(hw))
	if arpType != unix.ARPHRD_LOOPBACK {
		for i := range out {
			out[i] = 0xff
		}
	}
	return out
}

// genFile is a read-only file whose text is produced when it is opened.
type genFile struct {
	attrs
	gen func() (string, error)
}

func (fs *filesystem) genFile(gen func() (string, error)) *genFile {
	f := &genFile{attrs: fs.attrs(linux.S_IFREG | 0o444), gen: gen}
	f.size = 4096
	return f
}

// Open implements vfs.Opener.
func (f *genFile) Open(ctx vfs.Context, vd vfs.VirtualDentry, flags uint32) (vfs.FileImpl, error) {
	if flags&unix.O_ACCMODE != unix.O_RDONLY {
		return nil, unix.EACCES
	}
	data, err := f.gen()
	if err != nil {
		return nil, err
	}
	return &fileFD{data: data}, nil
}
