package proto

import (
	"reflect"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

func TestRoundTrip(t *testing.T) {
	msgs := []Message{
		&Stat{Mode: 0o100644, Nlink: 2, UID: 3, GID: 4, Rdev: 5, Size: -6, Blksize: 7, Blocks: 8, Atime: 9, Mtime: 10, Ctime: 11, Ino: 12, Dev: 13},
		&Node{Handle: 9, Stat: Stat{Ino: 1}},
		&HandleReq{Handle: 1 << 60},
		&AttachReq{Path: "a/b"},
		&WalkReq{Dir: 3, Names: []string{"a", "", "ccc"}},
		&WalkReply{Nodes: []Node{{Handle: 1}, {Handle: 2}}, Errno: 2},
		&OpenReq{Handle: 1, Flags: 2},
		&WalkOpenReq{Dir: 1, Name: "x", Flags: 3},
		&CreateReq{Dir: 1, Name: "n", Flags: 2, Mode: 3, UID: 4, GID: 5},
		&MakeReq{Dir: 1, Name: "n", Mode: 3, UID: 4, GID: 5},
		&SymlinkReq{Dir: 1, Name: "n", Target: "/t", UID: 4, GID: 5},
		&LinkReq{Dir: 1, Name: "n", Target: 2},
		&UnlinkReq{Dir: 1, Name: "n", Flags: 0x200},
		&RenameReq{OldDir: 1, OldName: "a", NewDir: 2, NewName: "b", Flags: 1},
		&ReadlinkReply{Target: strings.Repeat("x", MaxSymlink)},
		&GetdentsReq{Dir: 1, Cookie: 2, Size: 3},
		&GetdentsReply{Entries: []Dirent{{Ino: 1, Next: 2, Type: 4, Name: "a"}, {Ino: 3, Next: 4, Type: 8, Name: "bb"}}},
		&SetattrReq{Handle: 1, Mask: 63, Mode: 2, UID: 3, GID: 4, Size: 5, Atime: Timespec{6, 7}, Mtime: Timespec{8, unix.UTIME_OMIT}},
		&Statfs{Type: 1, Bsize: 2, Blocks: 3, Bfree: 4, Bavail: 5, Files: 6, Ffree: 7, Namelen: 8, Frsize: 9, Flags: 10},
		&CloseReq{Handles: []uint64{1, 2, 3}},
	}
	for _, m := range msgs {
		e := NewEncoder(nil)
		m.Encode(e)
		msg := e.Finish(42, OpStat, 0)
		h, err := ParseHeader(msg)
		if err != nil || h.ID != 42 || h.Op != OpStat || int(h.Length) != len(msg) {
			t.Fatalf("%T: header %+v %v", m, h, err)
		}
		got := reflect.New(reflect.TypeOf(m).Elem()).Interface().(Message)
		d := Decoder{B: msg[HeaderSize:]}
		got.Decode(&d)
		if err := d.Done(); err != nil {
			t.Errorf("%T: decode: %v", m, err)
		}
		if !reflect.DeepEqual(got, m) {
			t.Errorf("%T: got %+v want %+v", m, got, m)
		}
		// Every truncation must fail to decode, never panic.
		for n := 0; n < len(msg)-HeaderSize; n++ {
			d := Decoder{B: msg[HeaderSize : HeaderSize+n]}
			reflect.New(reflect.TypeOf(m).Elem()).Interface().(Message).Decode(&d)
			if d.Done() == nil {
				t.Errorf("%T truncated to %d decoded", m, n)
			}
		}
	}
}

func TestCheckName(t *testing.T) {
	for name, want := range map[string]error{
		"": unix.ENOENT, ".": unix.EINVAL, "..": unix.EINVAL, "a/b": unix.EINVAL, "/": unix.EINVAL,
		"a\x00": unix.EINVAL, strings.Repeat("a", 256): unix.ENAMETOOLONG,
		"...": nil, strings.Repeat("a", 255): nil, "\xff": nil, " ": nil, ".a": nil,
	} {
		if got := CheckName(name); got != want {
			t.Errorf("CheckName(%q) = %v, want %v", name, got, want)
		}
	}
}

func TestParseHeader(t *testing.T) {
	if _, err := ParseHeader(make([]byte, 3)); err != unix.EINVAL {
		t.Error("short header accepted")
	}
	b := make([]byte, 20)
	PutHeader(b, Header{Length: 16, ID: 1})
	if h, err := ParseHeader(b); err != unix.EINVAL || h.ID != 1 {
		t.Error("length mismatch accepted or id lost")
	}
}
