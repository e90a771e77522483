package integration

import (
	"testing"
	"time"
)

// TestNetControlMessages: the IP-level control messages a UDP receiver
// asks for (IP_PKTINFO, IP_RECVTTL, IP_RECVTOS; IPV6_RECVPKTINFO,
// IPV6_RECVHOPLIMIT, IPV6_RECVTCLASS) arrive as on Linux, over 127.0.0.1
// and ::1, and the options read back.
func TestNetControlMessages(t *testing.T) {
	requireSandbox(t, true)
	o := sandboxOpts{timeout: 60 * time.Second}
	argv := py(netControlPython)
	native := runNativeHost(t, o, argv...)
	sandbox := runSandbox(t, o, argv...)
	checkNoCrash(t, sandbox)
	compare(t, native, sandbox)
}

const netControlPython = `
import socket, struct

# Linux's values; Python's socket module lacks some of them.
IP_TOS, IP_TTL, IP_PKTINFO, IP_RECVTTL, IP_RECVTOS = 1, 2, 8, 12, 13
IPV6_RECVPKTINFO, IPV6_PKTINFO, IPV6_RECVHOPLIMIT, IPV6_HOPLIMIT, IPV6_RECVTCLASS, IPV6_TCLASS = 49, 50, 51, 52, 66, 67

def show(cmsgs):
    for level, typ, data in cmsgs:
        if level == socket.IPPROTO_IP and typ == IP_PKTINFO:
            idx, spec, addr = struct.unpack("=I4s4s", data)
            print("  IP_PKTINFO ifindex=%d spec_dst=%s addr=%s" % (idx, socket.inet_ntoa(spec), socket.inet_ntoa(addr)))
        elif level == socket.IPPROTO_IP and typ == IP_TTL:
            print("  IP_TTL", struct.unpack("=i", data)[0])
        elif level == socket.IPPROTO_IP and typ == IP_TOS:
            print("  IP_TOS", data[0])
        elif level == socket.IPPROTO_IPV6 and typ == IPV6_PKTINFO:
            addr, idx = struct.unpack("=16sI", data)
            print("  IPV6_PKTINFO addr=%s ifindex=%d" % (socket.inet_ntop(socket.AF_INET6, addr), idx))
        elif level == socket.IPPROTO_IPV6 and typ == IPV6_HOPLIMIT:
            print("  IPV6_HOPLIMIT", struct.unpack("=i", data)[0])
        elif level == socket.IPPROTO_IPV6 and typ == IPV6_TCLASS:
            print("  IPV6_TCLASS", struct.unpack("=i", data)[0])
        else:
            print("  other", level, typ, len(data))

for fam, host, opts in [
    (socket.AF_INET, "127.0.0.1", [(socket.IPPROTO_IP, IP_PKTINFO), (socket.IPPROTO_IP, IP_RECVTTL), (socket.IPPROTO_IP, IP_RECVTOS)]),
    (socket.AF_INET6, "::1", [(socket.IPPROTO_IPV6, IPV6_RECVPKTINFO), (socket.IPPROTO_IPV6, IPV6_RECVHOPLIMIT), (socket.IPPROTO_IPV6, IPV6_RECVTCLASS)]),
]:
    r = socket.socket(fam, socket.SOCK_DGRAM)
    r.bind((host, 0))
    s = socket.socket(fam, socket.SOCK_DGRAM)
    print(host, "before:", [r.getsockopt(l, o) for l, o in opts])
    s.sendto(b"plain", r.getsockname())
    data, cmsgs, flags, addr = r.recvmsg(100, 1024)
    print(" without options:", data, len(cmsgs))
    for l, o in opts:
        r.setsockopt(l, o, 1)
    print(host, "after:", [r.getsockopt(l, o) for l, o in opts])
    s.sendto(b"hello", r.getsockname())
    data, cmsgs, flags, addr = r.recvmsg(100, 1024)
    print(" with options:", data, flags)
    show(cmsgs)
    s.sendto(b"short", r.getsockname())
    data, cmsgs, flags, addr = r.recvmsg(100, 20)
    print(" small control buffer: truncated", bool(flags & socket.MSG_CTRUNC), "messages", len(cmsgs))
    r.close(); s.close()
`
