package proto

import (
	"errors"
	"net"

	"golang.org/x/sys/unix"
)

// OOBSize is the control-message buffer size that holds MaxFDs descriptors
// (with room to spare so an over-generous peer's fds are still received and
// can be closed rather than silently dropped with MSG_CTRUNC).
var OOBSize = unix.CmsgSpace(4 * 8)

// Send writes one message with fds attached (SCM_RIGHTS). The caller keeps
// ownership of fds.
func Send(c *net.UnixConn, msg []byte, fds ...int) error {
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	_, _, err := c.WriteMsgUnix(msg, oob, nil)
	return err
}

// Recv reads one message into buf, returning the message and any fds that
// came with it (received close-on-exec). If the message did not fit in buf or
// the control data was truncated, Recv returns what it got and EMSGSIZE; the
// caller owns and must close fds in every case. Any other error is the
// connection's (io.EOF when the peer closed it).
func Recv(c *net.UnixConn, buf, oob []byte) (msg []byte, fds []int, err error) {
	n, oobn, flags, _, err := c.ReadMsgUnix(buf, oob)
	n, oobn = max(n, 0), max(oobn, 0)
	if oobn > 0 {
		fds = parseRights(oob[:oobn])
	}
	if err != nil {
		return buf[:n], fds, err
	}
	if flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 {
		return buf[:n], fds, unix.EMSGSIZE
	}
	return buf[:n], fds, nil
}

func parseRights(oob []byte) []int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var fds []int
	for i := range msgs {
		if msgs[i].Header.Level != unix.SOL_SOCKET || msgs[i].Header.Type != unix.SCM_RIGHTS {
			continue
		}
		r, err := unix.ParseUnixRights(&msgs[i])
		if err == nil {
			fds = append(fds, r...)
		}
	}
	return fds
}

// CloseFDs closes every fd in fds.
func CloseFDs(fds []int) {
	for _, fd := range fds {
		unix.Close(fd)
	}
}

// Errno converts err to a Linux errno: unix.Errno values pass through,
// anything else becomes EIO.
func Errno(err error) unix.Errno {
	if err == nil {
		return 0
	}
	var e unix.Errno
	if errors.As(err, &e) {
		return e
	}
	return unix.EIO
}
