package inet

import (
	"encoding/binary"

	"golang.org/x/sys/unix"
	"gvisor.dev/gvisor/pkg/tcpip"
)

// Socket address sizes.
const (
	sockaddrInLen    = 16 // struct sockaddr_in
	sockaddrIn6Len   = 28 // struct sockaddr_in6
	sockaddrIn6Short = 24 // SIN6_LEN_RFC2133: without sin6_scope_id
)

// addrKind says what parseAddr found.
type addrKind int

const (
	addrNormal addrKind = iota
	// addrUnspec is AF_UNSPEC: connect(2) dissolves an association; an
	// AF_INET bind(2) takes it as AF_INET if the address is INADDR_ANY.
	addrUnspec
)

// parseAddr decodes a struct sockaddr given to a socket of family fam. Its
// errors are those of Linux's inet_bind/inet6_bind/*_connect checks
// (length: EINVAL, family: EAFNOSUPPORT). AF_UNSPEC is reported as
// addrUnspec (with the IPv4 address and port decoded when it is long
// enough), for the caller to apply Linux's special cases.
func parseAddr(fam int, b []byte) (tcpip.FullAddress, addrKind, error) {
	if len(b) < 2 {
		return tcpip.FullAddress{}, 0, unix.EINVAL
	}
	sf := int(binary.LittleEndian.Uint16(b))
	switch fam {
	case unix.AF_INET:
		if len(b) < sockaddrInLen {
			if sf == unix.AF_UNSPEC {
				return tcpip.FullAddress{}, addrUnspec, nil
			}
			return tcpip.FullAddress{}, 0, unix.EINVAL
		}
		var a [4]byte
		copy(a[:], b[4:8])
		fa := tcpip.FullAddress{Port: binary.BigEndian.Uint16(b[2:4])}
		if a != [4]byte{} {
			fa.Addr = tcpip.AddrFrom4(a)
		}
		switch sf {
		case unix.AF_INET:
			return fa, addrNormal, nil
		case unix.AF_UNSPEC:
			return fa, addrUnspec, nil
		}
		return tcpip.FullAddress{}, 0, unix.EAFNOSUPPORT
	case unix.AF_INET6:
		if sf == unix.AF_UNSPEC {
			return tcpip.FullAddress{}, addrUnspec, nil
		}
		if len(b) < sockaddrIn6Short {
			return tcpip.FullAddress{}, 0, unix.EINVAL
		}
		if sf != unix.AF_INET6 {
			return tcpip.FullAddress{}, 0, unix.EAFNOSUPPORT
		}
		var a [16]byte
		copy(a[:], b[8:24])
		fa := tcpip.FullAddress{Port: binary.BigEndian.Uint16(b[2:4])}
		if a != [16]byte{} {
			fa.Addr = tcpip.AddrFrom16(a)
		}
		if len(b) >= sockaddrIn6Len {
			if scope := binary.LittleEndian.Uint32(b[24:28]); scope != 0 && isLinkLocal6(a) {
				fa.NIC = tcpip.NICID(scope)
			}
		}
		return fa, addrNormal, nil
	}
	return tcpip.FullAddress{}, 0, unix.EAFNOSUPPORT
}

func isLinkLocal6(a [16]byte) bool { return a[0] == 0xfe && a[1]&0xc0 == 0x80 }

// isV4Mapped reports whether a is ::ffff:a.b.c.d.
func isV4Mapped(a tcpip.Address) bool {
	if a.Len() != 16 {
		return false
	}
	b := a.As16()
	for i := 0; i < 10; i++ {
		if b[i] != 0 {
			return false
		}
	}
	return b[10] == 0xff && b[11] == 0xff
}

// encodeAddr returns the struct sockaddr of a for a socket of family fam
// (IPv4 addresses of a dual-stack IPv6 socket come out v4-mapped).
func encodeAddr(fam int, a tcpip.FullAddress) []byte {
	if fam == unix.AF_INET {
		b := make([]byte, sockaddrInLen)
		binary.LittleEndian.PutUint16(b, unix.AF_INET)
		binary.BigEndian.PutUint16(b[2:], a.Port)
		switch a.Addr.Len() {
		case 4:
			v := a.Addr.As4()
			copy(b[4:], v[:])
		case 16:
			if isV4Mapped(a.Addr) {
				v := a.Addr.As16()
				copy(b[4:], v[12:])
			}
		}
		return b
	}
	b := make([]byte, sockaddrIn6Len)
	binary.LittleEndian.PutUint16(b, unix.AF_INET6)
	binary.BigEndian.PutUint16(b[2:], a.Port)
	switch a.Addr.Len() {
	case 4:
		v := a.Addr.As4()
		b[18], b[19] = 0xff, 0xff
		copy(b[20:], v[:])
	case 16:
		v := a.Addr.As16()
		copy(b[8:], v[:])
		if isLinkLocal6(v) {
			binary.LittleEndian.PutUint32(b[24:], uint32(a.NIC))
		}
	}
	return b
}

// parseDgramAddr is parseAddr for the destination of a datagram socket: an
// AF_INET6 one also takes an AF_INET address (Linux's
// __ip6_datagram_connect and udpv6_sendmsg), used v4-mapped.
func parseDgramAddr(fam int, b []byte) (tcpip.FullAddress, addrKind, error) {
	if fam == unix.AF_INET6 && len(b) >= sockaddrInLen && binary.LittleEndian.Uint16(b) == unix.AF_INET {
		fa, kind, err := parseAddr(unix.AF_INET, b)
		if err != nil {
			return fa, kind, err
		}
		var m [16]byte
		m[10], m[11] = 0xff, 0xff
		if fa.Addr.Len() == 4 {
			v := fa.Addr.As4()
			copy(m[12:], v[:])
		}
		fa.Addr = tcpip.AddrFrom16(m)
		return fa, kind, nil
	}
	return parseAddr(fam, b)
}
