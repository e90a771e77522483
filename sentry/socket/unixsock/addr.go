package unixsock

import (
	"fmt"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/sentry/vfs"
)

// sunPathMax is sizeof(sockaddr_un.sun_path).
const sunPathMax = 108

// namespace is the abstract socket namespace of one sandbox.
type namespace struct {
	mu       sync.Mutex
	abstract map[string]*sock
	nextAuto uint32
}

// namespaces maps each sandbox's VirtualFilesystem to its abstract
// namespace (a sentry runs one sandbox; tests run several).
var namespaces sync.Map

func namespaceOf(v *vfs.VirtualFilesystem) *namespace {
	if ns, ok := namespaces.Load(v); ok {
		return ns.(*namespace)
	}
	ns, _ := namespaces.LoadOrStore(v, &namespace{abstract: map[string]*sock{}})
	return ns.(*namespace)
}

func (ns *namespace) insert(name string, s *sock) error {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	if _, ok := ns.abstract[name]; ok {
		return unix.EADDRINUSE
	}
	ns.abstract[name] = s
	return nil
}

func (ns *namespace) remove(name string, s *sock) {
	ns.mu.Lock()
	if ns.abstract[name] == s {
		delete(ns.abstract, name)
	}
	ns.mu.Unlock()
}

func (ns *namespace) lookup(name string) *sock {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	return ns.abstract[name]
}

// autobindName picks a free "\x00xxxxx" name and inserts s (Linux's
// unix_autobind).
func (ns *namespace) autobind(s *sock) (string, error) {
	ns.mu.Lock()
	defer ns.mu.Unlock()
	for i := 0; i < 1<<20; i++ {
		ns.nextAuto = (ns.nextAuto + 1) & 0xfffff
		name := fmt.Sprintf("\x00%05x", ns.nextAuto)
		if _, ok := ns.abstract[name]; !ok {
			ns.abstract[name] = s
			return name, nil
		}
	}
	return "", unix.ENOSPC
}

// parseAddr decodes a struct sockaddr_un. It returns the name ("\x00..."
// for abstract names, else the path up to the first NUL). autobind reports
// a bare family (bind's request for an autobound name).
func parseAddr(b []byte) (name string, autobind bool, err error) {
	if len(b) < 2 || len(b) > 2+sunPathMax {
		return "", false, unix.EINVAL
	}
	if fam := uint16(b[0]) | uint16(b[1])<<8; fam != unix.AF_UNIX {
		return "", false, unix.EINVAL
	}
	p := b[2:]
	if len(p) == 0 {
		return "", true, nil
	}
	if p[0] == 0 {
		return string(p), false, nil
	}
	if i := strings.IndexByte(string(p), 0); i >= 0 {
		p = p[:i]
	}
	return string(p), false, nil
}

// encodeAddr returns the struct sockaddr_un bytes of name as getsockname
// reports them: the family alone for "", the path with its NUL, or the
// abstract name exactly.
func encodeAddr(name string) []byte {
	b := []byte{unix.AF_UNIX, 0}
	if name == "" {
		return b
	}
	b = append(b, name...)
	if name[0] != 0 {
		b = append(b, 0)
	}
	return b
}

// FSContexter is the part of a caller that path names need: the kernel's
// *Task has it.
type FSContexter interface {
	FSContext() *vfs.FSContext
}

func pathOp(ctx vfs.Context, path string, follow bool) (*vfs.PathOperation, error) {
	fc, ok := ctx.(FSContexter)
	if !ok || fc.FSContext() == nil {
		return nil, unix.EOPNOTSUPP
	}
	return fc.FSContext().PathOp(vfs.VirtualDentry{}, path, follow), nil
}

// Bind implements socket.Socket.
func (s *sock) Bind(ctx vfs.Context, addr []byte) error {
	name, auto, err := parseAddr(addr)
	if err != nil {
		return err
	}
	s.bindMu.Lock()
	defer s.bindMu.Unlock()
	s.mu.Lock()
	already := s.addr != ""
	s.mu.Unlock()
	if already {
		return unix.EINVAL
	}
	var bound vfs.SocketInode
	switch {
	case auto:
		if name, err = s.ns.autobind(s); err != nil {
			return err
		}
	case name[0] == 0:
		if err := s.ns.insert(name, s); err != nil {
			return err
		}
	default:
		if bound, err = s.bindPath(ctx, name); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.addr, s.bound = name, bound
	s.mu.Unlock()
	return nil
}

// bindPath makes the socket file at path (vfs.BindAt, which stores s in
// its inode atomically) and returns that inode so close can unbind it.
// A filesystem that cannot hold socket files (the gofer's, whose files are
// host files) makes BindAt fail with EOPNOTSUPP.
func (s *sock) bindPath(ctx vfs.Context, path string) (vfs.SocketInode, error) {
	pop, err := pathOp(ctx, path, false)
	if err != nil {
		return nil, err
	}
	defer pop.Release()
	umask := ctx.(FSContexter).FSContext().Umask()
	if err := s.v.BindAt(ctx, pop, 0o777&^umask, s); err != nil {
		return nil, err
	}
	vd, err := s.v.GetDentryAt(ctx, pop, vfs.GetDentryOptions{})
	if err != nil {
		// Unlinked already: the name is gone, s stays bound to it.
		return nil, nil
	}
	defer vd.DecRef()
	if si, ok := vd.Inode().(vfs.SocketInode); ok && si.BoundEndpoint() == any(s) {
		return si, nil
	}
	return nil, nil
}

// autobindIfNeeded gives an unbound socket with SO_PASSCRED an abstract
// name, as Linux does before connect and datagram sends.
func (s *sock) autobindIfNeeded() error {
	s.mu.Lock()
	need := s.passCred && s.addr == ""
	s.mu.Unlock()
	if !need {
		return nil
	}
	s.bindMu.Lock()
	defer s.bindMu.Unlock()
	s.mu.Lock()
	if s.addr != "" || s.closed {
		s.mu.Unlock()
		return nil
	}
	s.mu.Unlock()
	name, err := s.ns.autobind(s)
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.addr = name
	s.mu.Unlock()
	return nil
}

// lookupAddr finds the socket bound to addr: ECONNREFUSED if none (or a
// dead one), ENOENT for a missing path, EACCES without write permission on
// the socket file, EPROTOTYPE for a socket of another type.
func (s *sock) lookupAddr(ctx vfs.Context, addr []byte) (*sock, error) {
	name, auto, err := parseAddr(addr)
	if err != nil {
		return nil, err
	}
	if auto {
		return nil, unix.EINVAL
	}
	var t *sock
	if name[0] == 0 {
		t = s.ns.lookup(name)
	} else {
		pop, err := pathOp(ctx, name, true)
		if err != nil {
			return nil, err
		}
		defer pop.Release()
		ep, err := s.v.BoundEndpointAt(ctx, pop)
		if err != nil {
			return nil, err
		}
		t, _ = ep.(*sock)
	}
	if t == nil || t.isClosed() {
		return nil, unix.ECONNREFUSED
	}
	if t.stype != s.stype {
		return nil, unix.EPROTOTYPE
	}
	return t, nil
}

func (s *sock) isClosed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closed
}
