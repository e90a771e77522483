package network

import (
	"fmt"
	"net"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// ifreqData is struct ifreq with ifr_data (a pointer), as SIOCETHTOOL
// takes it.
type ifreqData struct {
	name [unix.IFNAMSIZ]byte
	data uintptr
	_    [16]byte
}

// ethtoolValue is struct ethtool_value.
type ethtoolValue struct {
	cmd  uint32
	data uint32
}

// offloadsOff turns off TCP segmentation, generic segmentation and TX
// checksum offloads of interface ifindex (in the daemon's namespace: the
// host side of a pod's veth), so that what crosses the veth into the pod
// is made of real frames with computed checksums, as a packet socket
// reader (the sentry) needs them.
func offloadsOff(ifindex int) error {
	ifc, err := net.InterfaceByIndex(ifindex)
	if err != nil {
		return err
	}
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(fd)
	for _, cmd := range []uint32{unix.ETHTOOL_STSO, unix.ETHTOOL_SGSO, unix.ETHTOOL_STXCSUM} {
		v := &ethtoolValue{cmd: cmd}
		var pin runtime.Pinner // the kernel reads v through a uintptr
		pin.Pin(v)
		r := &ifreqData{data: uintptr(unsafe.Pointer(v))}
		copy(r.name[:unix.IFNAMSIZ-1], ifc.Name)
		_, _, e := unix.Syscall(unix.SYS_IOCTL, uintptr(fd), unix.SIOCETHTOOL, uintptr(unsafe.Pointer(r)))
		pin.Unpin()
		if e != 0 && e != unix.EOPNOTSUPP {
			return fmt.Errorf("%s: ethtool command %#x: %w", ifc.Name, cmd, e)
		}
	}
	return nil
}
