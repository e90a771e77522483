package loader

import (
	"encoding/binary"
	"io"
	"math/rand"
	"os"
	"testing"

	"github.com/runsc-cri/runsc-cri/sentry/memmap"
)

// memFile is a loader.File over bytes, mapped through a memmap.Cache.
type memFile struct {
	data  []byte
	cache *memmap.Cache
}

type bytesBacking struct{ data []byte }

func (b bytesBacking) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= int64(len(b.data)) {
		return 0, io.EOF
	}
	n := copy(p, b.data[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
func (b bytesBacking) WriteAt(p []byte, off int64) (int, error) { return 0, os.ErrPermission }
func (b bytesBacking) Size() (uint64, error)                    { return uint64(len(b.data)), nil }

func (f *memFile) ReadAt(p []byte, off int64) (int, error) {
	return bytesBacking{f.data}.ReadAt(p, off)
}
func (f *memFile) Mappable() memmap.Mappable { return f.cache }
func (f *memFile) Name() string              { return "/fuzz" }
func (f *memFile) Dev() uint64               { return 0 }
func (f *memFile) Ino() uint64               { return 1 }

// TestLoadMutatedELF loads random mutations of a real ELF: every outcome is
// fine except a panic or a leak.
func TestLoadMutatedELF(t *testing.T) {
	need(t, "/bin/busybox", "/bin/ls", "/lib64/ld-linux-x86-64.so.2")
	e := newTestEnv(t)
	r := rand.New(rand.NewSource(1))
	var seeds [][]byte
	for _, p := range []string{"/bin/busybox", "/bin/ls"} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, b)
	}
	iters := 400
	if testing.Short() {
		iters = 100
	}
	loaded := 0
	for i := 0; i < iters; i++ {
		seed := seeds[i%len(seeds)]
		data := make([]byte, len(seed))
		copy(data, seed)
		mutate(r, data)
		if r.Intn(8) == 0 {
			data = data[:r.Intn(len(data))]
		}
		var files []*memFile
		opener := func(path string) (File, error) {
			if path == "/fuzz" {
				f := &memFile{data: data, cache: memmap.NewCache(e.mf, bytesBacking{data})}
				files = append(files, f)
				return f, nil
			}
			return e.open(path)
		}
		m := e.newMM()
		func() {
			defer func() {
				if p := recover(); p != nil {
					t.Fatalf("iteration %d: panic %v", i, p)
				}
			}()
			if _, err := Load(m, Args{Filename: "/fuzz", Argv: []string{"fuzz"}, Opener: opener, Random: r}); err == nil {
				loaded++
			}
		}()
		m.DecUsers()
		for _, f := range files {
			f.cache.Drop()
		}
	}
	e.dropAll()
	if u := e.mf.Used(); u != 0 {
		t.Fatalf("leaked %d bytes", u)
	}
	t.Logf("%d of %d mutations loaded", loaded, iters)
}

// mutate damages the ELF header and program headers.
func mutate(r *rand.Rand, d []byte) {
	phoff := int(binary.LittleEndian.Uint64(d[32:]))
	phnum := int(binary.LittleEndian.Uint16(d[56:]))
	for n := 1 + r.Intn(4); n > 0; n-- {
		switch r.Intn(6) {
		case 0: // random byte in the ELF header
			d[r.Intn(64)] = byte(r.Intn(256))
		case 1: // random byte in the program headers
			if i := phoff + r.Intn(phnum*56); i < len(d) {
				d[i] = byte(r.Intn(256))
			}
		case 2: // an extreme 64-bit field of a program header
			ph := phoff + 56*r.Intn(phnum)
			field := []int{8, 16, 24, 32, 40, 48}[r.Intn(6)]
			vals := []uint64{0, 1, 0xfff, 1 << 47, 1<<63 - 1, ^uint64(0), ^uint64(0) - 0xfff, uint64(len(d)) * 2}
			if ph+field+8 <= len(d) {
				binary.LittleEndian.PutUint64(d[ph+field:], vals[r.Intn(len(vals))])
			}
		case 3: // phnum / phentsize / phoff
			switch r.Intn(3) {
			case 0:
				binary.LittleEndian.PutUint16(d[56:], uint16(r.Intn(65536)))
			case 1:
				binary.LittleEndian.PutUint16(d[54:], uint16(r.Intn(128)))
			case 2:
				binary.LittleEndian.PutUint64(d[32:], r.Uint64()>>uint(r.Intn(64)))
			}
		case 4: // segment type
			ph := phoff + 56*r.Intn(phnum)
			types := []uint32{1, 2, 3, 6, 7, 0x6474e551, 0}
			if ph+4 <= len(d) {
				binary.LittleEndian.PutUint32(d[ph:], types[r.Intn(len(types))])
			}
		case 5: // entry
			binary.LittleEndian.PutUint64(d[24:], r.Uint64())
		}
	}
}
