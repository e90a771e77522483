package loader

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"errors"
	"io"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/sentry/mm"
)

const (
	elfHeaderSize = 64
	elfPhentSize  = 56
	maxPhdrBytes  = 65536 // Linux's limit on the program header table
	maxInterpPath = 4096
	// dynBase is where ET_DYN executables load (Linux's ELF_ET_DYN_BASE,
	// page-aligned).
	dynBase = 0x555555554000
)

// elfInfo is the validated content of an ELF header and program headers.
type elfInfo struct {
	typ       elf.Type
	entry     uint64
	phoff     uint64
	phnum     int
	phdrVaddr uint64 // from PT_PHDR, or 0
	loads     []elf.Prog64
	interp    string
	execStack bool
	// minV and maxV bound the page-aligned span of the PT_LOAD segments.
	minV, maxV uint64
}

// parseELF validates the ELF file whose first bytes are hdr.
func parseELF(f File, hdr []byte) (*elfInfo, error) {
	if len(hdr) < elfHeaderSize || !bytes.HasPrefix(hdr, []byte(elf.ELFMAG)) {
		return nil, unix.ENOEXEC
	}
	if elf.Class(hdr[elf.EI_CLASS]) != elf.ELFCLASS64 || elf.Data(hdr[elf.EI_DATA]) != elf.ELFDATA2LSB ||
		elf.Version(hdr[elf.EI_VERSION]) != elf.EV_CURRENT {
		return nil, unix.ENOEXEC
	}
	var h elf.Header64
	if err := binary.Read(bytes.NewReader(hdr[:elfHeaderSize]), binary.LittleEndian, &h); err != nil {
		return nil, unix.ENOEXEC
	}
	t := elf.Type(h.Type)
	if elf.Machine(h.Machine) != elf.EM_X86_64 || (t != elf.ET_EXEC && t != elf.ET_DYN) {
		return nil, unix.ENOEXEC
	}
	if h.Phentsize != elfPhentSize || h.Phnum == 0 || int(h.Phnum)*elfPhentSize > maxPhdrBytes {
		return nil, unix.ENOEXEC
	}
	size := uint64(h.Phnum) * elfPhentSize
	if h.Phoff+size < h.Phoff || h.Phoff > 1<<62 {
		return nil, unix.ENOEXEC
	}
	raw := make([]byte, size)
	if n, err := f.ReadAt(raw, int64(h.Phoff)); uint64(n) < size {
		if err != nil && !errors.Is(err, io.EOF) {
			return nil, unix.EIO
		}
		return nil, unix.ENOEXEC
	}
	ei := &elfInfo{typ: t, entry: h.Entry, phoff: h.Phoff, phnum: int(h.Phnum), minV: ^uint64(0)}
	progs := make([]elf.Prog64, h.Phnum)
	if err := binary.Read(bytes.NewReader(raw), binary.LittleEndian, progs); err != nil {
		return nil, unix.ENOEXEC
	}
	for _, p := range progs {
		switch elf.ProgType(p.Type) {
		case elf.PT_LOAD:
			if p.Memsz == 0 {
				continue
			}
			if p.Filesz > p.Memsz || p.Vaddr&pageMask != p.Off&pageMask ||
				p.Vaddr+p.Memsz < p.Vaddr || p.Off+p.Filesz < p.Off || p.Off > 1<<62 {
				return nil, unix.EINVAL
			}
			end := p.Vaddr + p.Memsz + pageMask
			if end < p.Vaddr {
				return nil, unix.ENOMEM
			}
			ei.minV = min(ei.minV, p.Vaddr&^pageMask)
			ei.maxV = max(ei.maxV, end&^pageMask)
			ei.loads = append(ei.loads, p)
		case elf.PT_INTERP:
			if ei.interp != "" {
				continue
			}
			if p.Filesz < 2 || p.Filesz > maxInterpPath || p.Off > 1<<62 {
				return nil, unix.ENOEXEC
			}
			b := make([]byte, p.Filesz)
			if n, _ := f.ReadAt(b, int64(p.Off)); uint64(n) < p.Filesz {
				return nil, unix.ENOEXEC
			}
			if b[len(b)-1] != 0 || bytes.IndexByte(b[:len(b)-1], 0) >= 0 {
				return nil, unix.ENOEXEC
			}
			ei.interp = string(b[:len(b)-1])
		case elf.PT_GNU_STACK:
			ei.execStack = elf.ProgFlag(p.Flags)&elf.PF_X != 0
		case elf.PT_PHDR:
			ei.phdrVaddr = p.Vaddr
		}
	}
	if len(ei.loads) == 0 {
		return nil, unix.ENOEXEC
	}
	return ei, nil
}

// phdrAddr returns AT_PHDR for an image loaded with bias.
func (ei *elfInfo) phdrAddr(bias uintptr) uintptr {
	if ei.phdrVaddr != 0 {
		return bias + uintptr(ei.phdrVaddr)
	}
	for _, p := range ei.loads {
		if p.Off <= ei.phoff && ei.phoff < p.Off+p.Filesz {
			return bias + uintptr(ei.phoff-p.Off+p.Vaddr)
		}
	}
	return 0
}

func protOf(flags uint32) int {
	prot := 0
	f := elf.ProgFlag(flags)
	if f&elf.PF_R != 0 {
		prot |= unix.PROT_READ
	}
	if f&elf.PF_W != 0 {
		prot |= unix.PROT_WRITE
	}
	if f&elf.PF_X != 0 {
		prot |= unix.PROT_EXEC
	}
	return prot
}

// mapImage maps the PT_LOAD segments of f and returns the load bias. main
// says this is the executable (ET_DYN goes to dynBase+rnd) rather than the
// interpreter (ET_DYN goes wherever mmap puts it).
func mapImage(m *mm.MemoryManager, f File, ei *elfInfo, main bool, rnd uintptr) (uintptr, error) {
	lo, hi := m.Bounds()
	span := ei.maxV - ei.minV
	if span == 0 || span > uint64(hi-lo) {
		return 0, unix.ENOMEM
	}
	var bias uintptr
	if ei.typ == elf.ET_EXEC {
		if ei.minV < uint64(lo) || ei.maxV > uint64(hi) {
			return 0, unix.ENOMEM
		}
	} else {
		// Reserve the whole span, then map the segments over it.
		o := mm.MMapOpts{Length: uintptr(span), Prot: unix.PROT_NONE, Flags: unix.MAP_PRIVATE | unix.MAP_ANONYMOUS}
		if main {
			o.Addr = dynBase + rnd
			o.Flags |= unix.MAP_FIXED_NOREPLACE
			if o.Addr+uintptr(span) > hi || o.Addr+uintptr(span) < o.Addr {
				o.Addr, o.Flags = 0, o.Flags&^unix.MAP_FIXED_NOREPLACE
			}
		}
		base, err := m.MMap(o)
		if err != nil {
			return 0, err
		}
		bias = base - uintptr(ei.minV)
		defer func() {
			// Unmap the parts of the reservation no segment covers.
			for _, g := range gaps(ei, bias, base, base+uintptr(span)) {
				m.MUnmap(g[0], g[1]-g[0])
			}
		}()
	}
	for _, p := range ei.loads {
		if err := mapSegment(m, f, p, bias); err != nil {
			return 0, err
		}
	}
	return bias, nil
}

// gaps returns the parts of [lo, hi) not covered by any segment.
func gaps(ei *elfInfo, bias, lo, hi uintptr) [][2]uintptr {
	var out [][2]uintptr
	a := lo
	for a < hi {
		next := hi
		covered := false
		for _, p := range ei.loads {
			s := bias + uintptr(p.Vaddr&^pageMask)
			e := bias + uintptr((p.Vaddr+p.Memsz+pageMask)&^pageMask)
			if s <= a && a < e {
				covered, a = true, e
				break
			}
			if s > a && s < next {
				next = s
			}
		}
		if !covered {
			out = append(out, [2]uintptr{a, next})
			a = next
		}
	}
	return out
}

// mapSegment maps one PT_LOAD segment: its file part privately from the
// file, the rest of memsz as anonymous memory, and zeroes the tail of the
// last file page.
func mapSegment(m *mm.MemoryManager, f File, p elf.Prog64, bias uintptr) error {
	prot := protOf(p.Flags)
	start := bias + uintptr(p.Vaddr)
	pageStart := start &^ pageMask
	fileEnd := start + uintptr(p.Filesz)
	mapEnd := (fileEnd + pageMask) &^ pageMask
	memEnd := (start + uintptr(p.Memsz) + pageMask) &^ pageMask
	if p.Filesz > 0 {
		o := mm.MMapOpts{
			Addr:   pageStart,
			Length: mapEnd - pageStart,
			Offset: p.Off &^ pageMask,
			Prot:   prot,
			Flags:  unix.MAP_PRIVATE | unix.MAP_FIXED,
			Name:   f.Name(),
			Dev:    f.Dev(),
			Ino:    f.Ino(),
		}
		if mp := f.Mappable(); mp != nil {
			o.Mappable = mp
			if _, err := m.MMap(o); err != nil {
				return err
			}
		} else if err := copySegment(m, f, o); err != nil {
			return err
		}
	} else {
		mapEnd = pageStart
		if start&pageMask != 0 {
			mapEnd = (start + pageMask) &^ pageMask
		}
	}
	if p.Memsz > p.Filesz {
		zeroFrom := fileEnd
		if p.Filesz == 0 {
			zeroFrom = start
		}
		if zeroFrom < mapEnd {
			if _, err := m.ZeroOut(zeroFrom, mapEnd-zeroFrom); err != nil && prot&unix.PROT_WRITE != 0 {
				return unix.EFAULT
			}
		}
		if memEnd > mapEnd {
			_, err := m.MMap(mm.MMapOpts{
				Addr:   mapEnd,
				Length: memEnd - mapEnd,
				Prot:   prot,
				Flags:  unix.MAP_PRIVATE | unix.MAP_ANONYMOUS | unix.MAP_FIXED,
			})
			if err != nil {
				return err
			}
		}
	}
	return nil
}

// copySegment loads a file part into anonymous memory for files without a
// Mappable.
func copySegment(m *mm.MemoryManager, f File, o mm.MMapOpts) error {
	prot := o.Prot
	o.Prot = unix.PROT_READ | unix.PROT_WRITE
	o.Flags |= unix.MAP_ANONYMOUS
	if _, err := m.MMap(o); err != nil {
		return err
	}
	buf := make([]byte, 64<<10)
	for done := uintptr(0); done < o.Length; {
		n := min(uintptr(len(buf)), o.Length-done)
		got, err := f.ReadAt(buf[:n], int64(o.Offset)+int64(done))
		if got > 0 {
			if _, err := m.CopyOut(o.Addr+done, buf[:got]); err != nil {
				return err
			}
		}
		if got < int(n) {
			if err == nil || errors.Is(err, io.EOF) {
				break
			}
			return unix.EIO
		}
		done += n
	}
	return m.MProtect(o.Addr, o.Length, prot)
}
