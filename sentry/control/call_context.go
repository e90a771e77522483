package control

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// CallContext is Call without fds, ended early when ctx is done (the
// connection is closed, so a long call such as Wait does not outlive its
// caller in the daemon). It returns ctx.Err() when ctx ended the call.
func CallContext(ctx context.Context, path, method string, params any, result any) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "unixpacket", path)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%s: connecting to the sentry at %s: %w", method, path, err)
	}
	conn := c.(*net.UnixConn)
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	p, err := json.Marshal(params)
	if err != nil {
		return err
	}
	msg, err := json.Marshal(Request{Method: method, Params: p})
	if err != nil {
		return err
	}
	if _, err := conn.Write(msg); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return fmt.Errorf("%s: sending: %w", method, err)
	}
	buf := make([]byte, MaxMessage)
	n, err := conn.Read(buf)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
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
