package loader

import (
	"os"
	"sync"
	"testing"

	"github.com/runsc-cri/runsc-cri/platform"
	"github.com/runsc-cri/runsc-cri/sentry/memfile"
	"github.com/runsc-cri/runsc-cri/sentry/memmap"
	"github.com/runsc-cri/runsc-cri/sentry/mm"
)

// nopPlatform's address spaces ignore everything: the loader only needs
// the memory manager's own view of memory.
type nopPlatform struct{}
type nopAS struct{}

func (nopPlatform) Name() string                                          { return "nop" }
func (nopPlatform) MinUserAddress() uintptr                               { return 0x10000 }
func (nopPlatform) MaxUserAddress() uintptr                               { return 0x7ffffffff000 }
func (nopPlatform) NewAddressSpace() (platform.AddressSpace, error)       { return nopAS{}, nil }
func (nopPlatform) NewContext() (platform.Context, error)                 { return nil, platform.ErrUnavailable }
func (nopPlatform) FPStateSize() int                                      { return 512 }
func (nopPlatform) Close()                                                {}
func (nopAS) MapFile(uintptr, uint64, uintptr, platform.AccessType) error { return nil }
func (nopAS) Unmap(uintptr, uintptr)                                      {}
func (nopAS) Release()                                                    {}

// osBacking is a memmap.Backing over a host file.
type osBacking struct{ f *os.File }

func (b osBacking) ReadAt(p []byte, off int64) (int, error)  { return b.f.ReadAt(p, off) }
func (b osBacking) WriteAt(p []byte, off int64) (int, error) { return b.f.WriteAt(p, off) }
func (b osBacking) Size() (uint64, error) {
	st, err := b.f.Stat()
	if err != nil {
		return 0, err
	}
	return uint64(st.Size()), nil
}

// hostFile is a loader.File over a host file, mapped through a memmap.Cache.
type hostFile struct {
	f        *os.File
	path     string
	cache    *memmap.Cache
	dev, ino uint64
}

func (h *hostFile) ReadAt(p []byte, off int64) (int, error) { return h.f.ReadAt(p, off) }
func (h *hostFile) Mappable() memmap.Mappable               { return h.cache }
func (h *hostFile) Name() string                            { return h.path }
func (h *hostFile) Dev() uint64                             { return h.dev }
func (h *hostFile) Ino() uint64                             { return h.ino }

type testEnv struct {
	t  *testing.T
	mf *memfile.File

	mu    sync.Mutex
	files []*hostFile
}

func newTestEnv(t *testing.T) *testEnv {
	mf, err := memfile.New("loader-test", 512<<20)
	if err != nil {
		t.Fatal(err)
	}
	e := &testEnv{t: t, mf: mf}
	t.Cleanup(func() {
		e.dropAll()
		mf.Close()
	})
	return e
}

func (e *testEnv) newMM() *mm.MemoryManager {
	m, err := mm.New(nopPlatform{}, e.mf)
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

// open is an Opener over host files (tests only).
func (e *testEnv) open(path string) (File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	dev, ino := statIDs(st)
	h := &hostFile{f: f, path: path, cache: memmap.NewCache(e.mf, osBacking{f}), dev: dev, ino: ino}
	e.mu.Lock()
	e.files = append(e.files, h)
	e.mu.Unlock()
	return h, nil
}

func (e *testEnv) dropAll() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, h := range e.files {
		h.cache.Drop()
		h.f.Close()
	}
	e.files = nil
}
