package control

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"time"

	"golang.org/x/sys/unix"
)

// MaxMessage bounds one message (requests and responses are small).
const MaxMessage = 1 << 20

// MaxFDs bounds the fds attached to one message.
const MaxFDs = 64

// Error is a failed call.
type Error struct {
	Method string
	Msg    string
	Errno  unix.Errno
}

func (e *Error) Error() string { return fmt.Sprintf("%s: %s", e.Method, e.Msg) }

// Unwrap lets errors.Is match the errno (unix.ENOENT...).
func (e *Error) Unwrap() error {
	if e.Errno == 0 {
		return nil
	}
	return e.Errno
}

// Call makes one call to the sentry listening at path: it sends params with
// fds attached and decodes the result into result (if not nil). A zero
// timeout waits forever (Wait calls).
func Call(path, method string, params any, fds []int, result any, timeout time.Duration) error {
	conn, err := net.DialUnix("unixpacket", nil, &net.UnixAddr{Name: path, Net: "unixpacket"})
	if err != nil {
		return fmt.Errorf("%s: connecting to the sentry at %s: %w", method, path, err)
	}
	defer conn.Close()
	if timeout > 0 {
		conn.SetDeadline(time.Now().Add(timeout))
	}
	p, err := json.Marshal(params)
	if err != nil {
		return err
	}
	msg, err := json.Marshal(Request{Method: method, Params: p})
	if err != nil {
		return err
	}
	if len(fds) > MaxFDs {
		return fmt.Errorf("%s: %d fds is more than %d", method, len(fds), MaxFDs)
	}
	var oob []byte
	if len(fds) > 0 {
		oob = unix.UnixRights(fds...)
	}
	if _, _, err := conn.WriteMsgUnix(msg, oob, nil); err != nil {
		return fmt.Errorf("%s: sending: %w", method, err)
	}
	buf := make([]byte, MaxMessage)
	n, err := conn.Read(buf)
	if err != nil {
		return fmt.Errorf("%s: no answer from the sentry: %w", method, err)
	}
	var resp Response
	if err := json.Unmarshal(buf[:n], &resp); err != nil {
		return fmt.Errorf("%s: malformed answer: %w", method, err)
	}
	if resp.Error != "" {
		return &Error{Method: method, Msg: resp.Error, Errno: unix.Errno(resp.Errno)}
	}
	if result != nil && len(resp.Result) > 0 {
		if err := json.Unmarshal(resp.Result, result); err != nil {
			return fmt.Errorf("%s: malformed result: %w", method, err)
		}
	}
	return nil
}

// Handler serves one call: it decodes req.Params, uses (and owns) fds, and
// returns a result to encode or an error (an errno is passed along).
type Handler func(req *Request, fds []*os.File) (any, error)

// Serve accepts calls on l until it is closed, each on its own goroutine.
func Serve(l *net.UnixListener, h Handler) error {
	for {
		conn, err := l.AcceptUnix()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return nil
			}
			return err
		}
		go serveConn(conn, h)
	}
}

// ServeConn serves the one call of an accepted connection and closes it
// (Serve runs it on a goroutine per connection). It returns once the reply
// is written, so a server that tracks its calls can wait for the last
// answers before it exits.
func ServeConn(conn *net.UnixConn, h Handler) { serveConn(conn, h) }

func serveConn(conn *net.UnixConn, h Handler) {
	defer conn.Close()
	buf := make([]byte, MaxMessage)
	oob := make([]byte, unix.CmsgSpace(MaxFDs*4))
	n, oobn, flags, _, err := conn.ReadMsgUnix(buf, oob)
	if err != nil {
		return
	}
	var files []*os.File
	if oobn > 0 {
		msgs, err := unix.ParseSocketControlMessage(oob[:oobn])
		if err == nil {
			for _, m := range msgs {
				fds, err := unix.ParseUnixRights(&m)
				if err != nil {
					continue
				}
				for _, fd := range fds {
					files = append(files, os.NewFile(uintptr(fd), "control-fd"))
				}
			}
		}
	}
	reply := func(r Response) {
		b, _ := json.Marshal(r)
		conn.Write(b)
	}
	if flags&(unix.MSG_TRUNC|unix.MSG_CTRUNC) != 0 {
		closeAll(files)
		reply(Response{Error: "message or its fds truncated", Errno: int(unix.EINVAL)})
		return
	}
	var req Request
	if err := json.Unmarshal(buf[:n], &req); err != nil {
		closeAll(files)
		reply(Response{Error: "malformed request: " + err.Error(), Errno: int(unix.EINVAL)})
		return
	}
	res, err := h(&req, files)
	if err != nil {
		r := Response{Error: err.Error()}
		var errno unix.Errno
		if errors.As(err, &errno) {
			r.Errno = int(errno)
		}
		reply(r)
		return
	}
	b, err := json.Marshal(res)
	if err != nil {
		reply(Response{Error: "encoding result: " + err.Error()})
		return
	}
	reply(Response{Result: b})
}

func closeAll(files []*os.File) {
	for _, f := range files {
		f.Close()
	}
}
