package proto

// Message is a request or reply payload.
type Message interface {
	Encode(e *Encoder)
	Decode(d *Decoder)
}

// Stat is the attributes of a file, as fstat(2) reports them on the host.
// Times are nanoseconds since the Unix epoch.
type Stat struct {
	Mode    uint32 // S_IFMT type bits | 07777 permission bits
	Nlink   uint64
	UID     uint32
	GID     uint32
	Rdev    uint64
	Size    int64
	Blksize int64
	Blocks  int64 // 512-byte blocks
	Atime   int64
	Mtime   int64
	Ctime   int64
	Ino     uint64
	Dev     uint64
}

// Encode implements Message.
func (s *Stat) Encode(e *Encoder) {
	e.U32(s.Mode)
	e.U64(s.Nlink)
	e.U32(s.UID)
	e.U32(s.GID)
	e.U64(s.Rdev)
	e.I64(s.Size)
	e.I64(s.Blksize)
	e.I64(s.Blocks)
	e.I64(s.Atime)
	e.I64(s.Mtime)
	e.I64(s.Ctime)
	e.U64(s.Ino)
	e.U64(s.Dev)
}

// Decode implements Message.
func (s *Stat) Decode(d *Decoder) {
	s.Mode = d.U32()
	s.Nlink = d.U64()
	s.UID = d.U32()
	s.GID = d.U32()
	s.Rdev = d.U64()
	s.Size = d.I64()
	s.Blksize = d.I64()
	s.Blocks = d.I64()
	s.Atime = d.I64()
	s.Mtime = d.I64()
	s.Ctime = d.I64()
	s.Ino = d.U64()
	s.Dev = d.U64()
}

// Node is a new handle and the stat of the file it names.
type Node struct {
	Handle uint64
	Stat   Stat
}

// Encode implements Message.
func (n *Node) Encode(e *Encoder) { e.U64(n.Handle); n.Stat.Encode(e) }

// Decode implements Message.
func (n *Node) Decode(d *Decoder) { n.Handle = d.U64(); n.Stat.Decode(d) }

// Empty is a message without payload.
type Empty struct{}

// Encode implements Message.
func (*Empty) Encode(*Encoder) {}

// Decode implements Message.
func (*Empty) Decode(*Decoder) {}

// HandleReq names one handle (Stat, Readlink, Statfs).
type HandleReq struct{ Handle uint64 }

// Encode implements Message.
func (r *HandleReq) Encode(e *Encoder) { e.U64(r.Handle) }

// Decode implements Message.
func (r *HandleReq) Decode(d *Decoder) { r.Handle = d.U64() }

// AttachReq asks for a handle on the root ("" or "/") or on a directory
// below it given as a relative path (resolved beneath the root, no symlinks).
// Reply: Node.
type AttachReq struct{ Path string }

// Encode implements Message.
func (r *AttachReq) Encode(e *Encoder) { e.String(r.Path) }

// Decode implements Message.
func (r *AttachReq) Decode(d *Decoder) { r.Path = d.String(MaxSymlink) }

// WalkReq walks Names, one component at a time, from directory Dir.
type WalkReq struct {
	Dir   uint64
	Names []string
}

// Encode implements Message.
func (r *WalkReq) Encode(e *Encoder) {
	e.U64(r.Dir)
	e.U32(uint32(len(r.Names)))
	for _, n := range r.Names {
		e.String(n)
	}
}

// Decode implements Message.
func (r *WalkReq) Decode(d *Decoder) {
	r.Dir = d.U64()
	n := d.U32()
	if n > MaxWalk {
		d.Err = errInval
		return
	}
	r.Names = make([]string, 0, n)
	for i := uint32(0); i < n && d.Err == nil; i++ {
		r.Names = append(r.Names, d.String(MaxName))
	}
}

// WalkReply holds one Node per component walked. If fewer than requested
// were walked, Errno says why the next one failed.
type WalkReply struct {
	Nodes []Node
	Errno uint32
}

// Encode implements Message.
func (r *WalkReply) Encode(e *Encoder) {
	e.U32(r.Errno)
	e.U32(uint32(len(r.Nodes)))
	for i := range r.Nodes {
		r.Nodes[i].Encode(e)
	}
}

// Decode implements Message.
func (r *WalkReply) Decode(d *Decoder) {
	r.Errno = d.U32()
	n := d.U32()
	if n > MaxWalk {
		d.Err = errInval
		return
	}
	r.Nodes = make([]Node, n)
	for i := range r.Nodes {
		r.Nodes[i].Decode(d)
	}
}

// OpenReq opens the file of Handle with open(2) Flags. Reply: Empty with one
// donated fd.
type OpenReq struct {
	Handle uint64
	Flags  uint32
}

// Encode implements Message.
func (r *OpenReq) Encode(e *Encoder) { e.U64(r.Handle); e.U32(r.Flags) }

// Decode implements Message.
func (r *OpenReq) Decode(d *Decoder) { r.Handle = d.U64(); r.Flags = d.U32() }

// WalkOpenReq walks one component Name from Dir and, if it is a regular file
// or a directory, opens it with Flags. Reply: Node, plus one donated fd
// unless the file is of another type (symlink, fifo, ...).
type WalkOpenReq struct {
	Dir   uint64
	Name  string
	Flags uint32
}

// Encode implements Message.
func (r *WalkOpenReq) Encode(e *Encoder) { e.U64(r.Dir); e.String(r.Name); e.U32(r.Flags) }

// Decode implements Message.
func (r *WalkOpenReq) Decode(d *Decoder) {
	r.Dir = d.U64()
	r.Name = d.String(MaxName)
	r.Flags = d.U32()
}

// CreateReq creates and opens regular file Name in Dir (O_CREAT is implied;
// O_EXCL is up to the caller), owned by UID:GID with permission bits Mode.
// Reply: Node with one donated fd.
type CreateReq struct {
	Dir   uint64
	Name  string
	Flags uint32
	Mode  uint32
	UID   uint32
	GID   uint32
}

// Encode implements Message.
func (r *CreateReq) Encode(e *Encoder) {
	e.U64(r.Dir)
	e.String(r.Name)
	e.U32(r.Flags)
	e.U32(r.Mode)
	e.U32(r.UID)
	e.U32(r.GID)
}

// Decode implements Message.
func (r *CreateReq) Decode(d *Decoder) {
	r.Dir = d.U64()
	r.Name = d.String(MaxName)
	r.Flags = d.U32()
	r.Mode = d.U32()
	r.UID = d.U32()
	r.GID = d.U32()
}

// MakeReq creates Name in Dir: a directory (OpMkdir), a FIFO, regular file or
// socket file (OpMknod, Mode includes the S_IFMT type), or a socket file
// (OpBind). Reply: Node.
type MakeReq struct {
	Dir  uint64
	Name string
	Mode uint32
	UID  uint32
	GID  uint32
}

// Encode implements Message.
func (r *MakeReq) Encode(e *Encoder) {
	e.U64(r.Dir)
	e.String(r.Name)
	e.U32(r.Mode)
	e.U32(r.UID)
	e.U32(r.GID)
}

// Decode implements Message.
func (r *MakeReq) Decode(d *Decoder) {
	r.Dir = d.U64()
	r.Name = d.String(MaxName)
	r.Mode = d.U32()
	r.UID = d.U32()
	r.GID = d.U32()
}

// SymlinkReq creates symlink Name -> Target in Dir. Reply: Node.
type SymlinkReq struct {
	Dir    uint64
	Name   string
	Target string
	UID    uint32
	GID    uint32
}

// Encode implements Message.
func (r *SymlinkReq) Encode(e *Encoder) {
	e.U64(r.Dir)
	e.String(r.Name)
	e.String(r.Target)
	e.U32(r.UID)
	e.U32(r.GID)
}

// Decode implements Message.
func (r *SymlinkReq) Decode(d *Decoder) {
	r.Dir = d.U64()
	r.Name = d.String(MaxName)
	r.Target = d.String(MaxSymlink)
	r.UID = d.U32()
	r.GID = d.U32()
}

// LinkReq creates a hard link Name in Dir to the file of handle Target.
// Reply: Node.
type LinkReq struct {
	Dir    uint64
	Name   string
	Target uint64
}

// Encode implements Message.
func (r *LinkReq) Encode(e *Encoder) { e.U64(r.Dir); e.String(r.Name); e.U64(r.Target) }

// Decode implements Message.
func (r *LinkReq) Decode(d *Decoder) { r.Dir = d.U64(); r.Name = d.String(MaxName); r.Target = d.U64() }

// UnlinkReq removes Name from Dir; Flags is 0 or AT_REMOVEDIR. Reply: Empty.
type UnlinkReq struct {
	Dir   uint64
	Name  string
	Flags uint32
}

// Encode implements Message.
func (r *UnlinkReq) Encode(e *Encoder) { e.U64(r.Dir); e.String(r.Name); e.U32(r.Flags) }

// Decode implements Message.
func (r *UnlinkReq) Decode(d *Decoder) {
	r.Dir = d.U64()
	r.Name = d.String(MaxName)
	r.Flags = d.U32()
}

// RenameReq is renameat2(OldDir, OldName, NewDir, NewName, Flags); Flags may
// hold RENAME_NOREPLACE or RENAME_EXCHANGE. Reply: Empty.
type RenameReq struct {
	OldDir  uint64
	OldName string
	NewDir  uint64
	NewName string
	Flags   uint32
}

// Encode implements Message.
func (r *RenameReq) Encode(e *Encoder) {
	e.U64(r.OldDir)
	e.String(r.OldName)
	e.U64(r.NewDir)
	e.String(r.NewName)
	e.U32(r.Flags)
}

// Decode implements Message.
func (r *RenameReq) Decode(d *Decoder) {
	r.OldDir = d.U64()
	r.OldName = d.String(MaxName)
	r.NewDir = d.U64()
	r.NewName = d.String(MaxName)
	r.Flags = d.U32()
}

// ReadlinkReply is the target of a symlink.
type ReadlinkReply struct{ Target string }

// Encode implements Message.
func (r *ReadlinkReply) Encode(e *Encoder) { e.String(r.Target) }

// Decode implements Message.
func (r *ReadlinkReply) Decode(d *Decoder) { r.Target = d.String(MaxSymlink) }

// GetdentsReq reads directory entries of Dir starting at Cookie (0 = start;
// otherwise the Next of the last entry seen). Size bounds the reply payload
// (0 or larger than the maximum = as much as fits in a message).
type GetdentsReq struct {
	Dir    uint64
	Cookie uint64
	Size   uint32
}

// Encode implements Message.
func (r *GetdentsReq) Encode(e *Encoder) { e.U64(r.Dir); e.U64(r.Cookie); e.U32(r.Size) }

// Decode implements Message.
func (r *GetdentsReq) Decode(d *Decoder) { r.Dir = d.U64(); r.Cookie = d.U64(); r.Size = d.U32() }

// Dirent is one directory entry. Type is a DT_* value. Next is the cookie
// that continues the listing after this entry.
type Dirent struct {
	Ino  uint64
	Next uint64
	Type uint8
	Name string
}

// GetdentsReply is one page of entries; an empty page means the end. "." and
// ".." are never included: the sentry synthesises them.
type GetdentsReply struct{ Entries []Dirent }

// DirentSize is the encoded size of a Dirent with a name of n bytes.
func DirentSize(n int) int { return 8 + 8 + 1 + 4 + n }

// Encode implements Message.
func (r *GetdentsReply) Encode(e *Encoder) {
	e.U32(uint32(len(r.Entries)))
	for i := range r.Entries {
		de := &r.Entries[i]
		e.U64(de.Ino)
		e.U64(de.Next)
		e.U8(de.Type)
		e.String(de.Name)
	}
}

// Decode implements Message.
func (r *GetdentsReply) Decode(d *Decoder) {
	n := d.U32()
	if int64(n)*int64(DirentSize(1)) > int64(len(d.B)) {
		d.Err = errInval
		return
	}
	r.Entries = make([]Dirent, 0, n)
	for i := uint32(0); i < n && d.Err == nil; i++ {
		var de Dirent
		de.Ino = d.U64()
		de.Next = d.U64()
		de.Type = d.U8()
		de.Name = d.String(MaxName)
		r.Entries = append(r.Entries, de)
	}
}

// Setattr mask bits.
const (
	SetattrMode  = 1 << 0
	SetattrUID   = 1 << 1
	SetattrGID   = 1 << 2
	SetattrSize  = 1 << 3
	SetattrAtime = 1 << 4
	SetattrMtime = 1 << 5
	setattrAll   = 1<<6 - 1
)

// Timespec is a time; Nsec may be UTIME_NOW or UTIME_OMIT.
type Timespec struct {
	Sec  int64
	Nsec int64
}

// SetattrReq changes the attributes selected by Mask. The gofer applies
// them in the order uid/gid, mode, size, times (so set-id bits asked for
// survive the chown and explicit times win over the truncate's). Reply: Stat
// after the change.
type SetattrReq struct {
	Handle uint64
	Mask   uint32
	Mode   uint32
	UID    uint32
	GID    uint32
	Size   uint64
	Atime  Timespec
	Mtime  Timespec
}

// Encode implements Message.
func (r *SetattrReq) Encode(e *Encoder) {
	e.U64(r.Handle)
	e.U32(r.Mask)
	e.U32(r.Mode)
	e.U32(r.UID)
	e.U32(r.GID)
	e.U64(r.Size)
	e.I64(r.Atime.Sec)
	e.I64(r.Atime.Nsec)
	e.I64(r.Mtime.Sec)
	e.I64(r.Mtime.Nsec)
}

// Decode implements Message.
func (r *SetattrReq) Decode(d *Decoder) {
	r.Handle = d.U64()
	r.Mask = d.U32()
	r.Mode = d.U32()
	r.UID = d.U32()
	r.GID = d.U32()
	r.Size = d.U64()
	r.Atime.Sec = d.I64()
	r.Atime.Nsec = d.I64()
	r.Mtime.Sec = d.I64()
	r.Mtime.Nsec = d.I64()
	if r.Mask&^setattrAll != 0 {
		d.Err = errInval
	}
}

// Statfs is the host statfs(2) of the filesystem holding a file.
type Statfs struct {
	Type    uint64
	Bsize   uint64
	Blocks  uint64
	Bfree   uint64
	Bavail  uint64
	Files   uint64
	Ffree   uint64
	Namelen uint64
	Frsize  uint64
	Flags   uint64
}

// Encode implements Message.
func (s *Statfs) Encode(e *Encoder) {
	for _, v := range [...]uint64{s.Type, s.Bsize, s.Blocks, s.Bfree, s.Bavail, s.Files, s.Ffree, s.Namelen, s.Frsize, s.Flags} {
		e.U64(v)
	}
}

// Decode implements Message.
func (s *Statfs) Decode(d *Decoder) {
	for _, p := range [...]*uint64{&s.Type, &s.Bsize, &s.Blocks, &s.Bfree, &s.Bavail, &s.Files, &s.Ffree, &s.Namelen, &s.Frsize, &s.Flags} {
		*p = d.U64()
	}
}

// CloseReq releases handles. It is usually sent with id 0 (no reply).
type CloseReq struct{ Handles []uint64 }

// Encode implements Message.
func (r *CloseReq) Encode(e *Encoder) {
	e.U32(uint32(len(r.Handles)))
	for _, h := range r.Handles {
		e.U64(h)
	}
}

// Decode implements Message.
func (r *CloseReq) Decode(d *Decoder) {
	n := d.U32()
	if n > MaxClose {
		d.Err = errInval
		return
	}
	r.Handles = make([]uint64, 0, n)
	for i := uint32(0); i < n && d.Err == nil; i++ {
		r.Handles = append(r.Handles, d.U64())
	}
}
