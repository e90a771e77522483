package gofer

import "golang.org/x/sys/unix"

// iovMax is the most blocks one preadv/pwritev takes (UIO_MAXIOV).
const iovMax = 1024

// preadvAll reads at off into dst until it is full, EOF or an error (a
// partial read is returned without the error).
func preadvAll(fd int, dst [][]byte, off int64) (int64, error) {
	var done int64
	for len(dst) > 0 {
		n, err := unix.Preadv(fd, dst[:min(len(dst), iovMax)], off+done)
		if err == unix.EINTR {
			continue
		}
		if n > 0 {
			done += int64(n)
			dst = advance(dst, n)
		}
		if err != nil {
			if done > 0 {
				return done, nil
			}
			return 0, toErrno(err)
		}
		if n == 0 {
			break
		}
	}
	return done, nil
}

// pwritevAll writes all of src at off, or stops at an error.
func pwritevAll(fd int, src [][]byte, off int64) (int64, error) {
	var done int64
	for len(src) > 0 {
		n, err := unix.Pwritev(fd, src[:min(len(src), iovMax)], off+done)
		if err == unix.EINTR {
			continue
		}
		if n > 0 {
			done += int64(n)
			src = advance(src, n)
		}
		if err != nil {
			if done > 0 {
				return done, nil
			}
			return 0, toErrno(err)
		}
		if n == 0 {
			break
		}
	}
	return done, nil
}

// advance drops the first n bytes of bs without modifying the caller's
// outer slice.
func advance(bs [][]byte, n int) [][]byte {
	for len(bs) > 0 && n >= len(bs[0]) {
		n -= len(bs[0])
		bs = bs[1:]
	}
	if len(bs) > 0 && n > 0 {
		out := make([][]byte, len(bs))
		copy(out, bs)
		out[0] = out[0][n:]
		return out
	}
	return bs
}

// toErrno turns a host error into a unix.Errno (EIO for anything else).
func toErrno(err error) error {
	if err == nil {
		return nil
	}
	if e, ok := err.(unix.Errno); ok {
		return e
	}
	return unix.EIO
}
