package mm

import (
	"fmt"
	"strings"

	"golang.org/x/sys/unix"
)

// mapsNameColumn is where /proc/self/maps puts the name (Linux pads the
// prefix to 72 characters and adds one space).
const mapsNameColumn = 73

// Maps renders /proc/self/maps.
func (m *MemoryManager) Maps() []byte {
	m.mappingMu.RLock()
	defer m.mappingMu.RUnlock()
	var b strings.Builder
	for _, v := range m.vmas {
		writeMapsLine(&b, v)
	}
	return []byte(b.String())
}

func writeMapsLine(b *strings.Builder, v *vma) {
	shared := byte('p')
	if !v.private {
		shared = 's'
	}
	var off uint64
	if v.mappable != nil && !v.anonShm {
		off = v.off
	}
	start := b.Len()
	fmt.Fprintf(b, "%08x-%08x %s%c %08x %02x:%02x %d ", v.start, v.end, v.perms.String(), shared,
		off, unix.Major(v.dev), unix.Minor(v.dev), v.ino)
	if v.name != "" {
		if n := b.Len() - start; n < mapsNameColumn-1 {
			b.WriteString(strings.Repeat(" ", mapsNameColumn-1-n))
		}
		b.WriteByte(' ')
		b.WriteString(v.name)
	}
	b.WriteByte('\n')
}
