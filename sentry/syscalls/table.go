// Package syscalls is the amd64 system-call table of the sentry and the
// handlers behind it, one family of calls per file (sys_file.go,
// sys_mmap.go, sys_signal.go, ...).
//
// The table is data: every family file declares a map from syscall number
// to Entry (name, handler, support level, note), and this file merges them
// into one table at init, refusing duplicates. The same table drives
// dispatch, `runsc-cri syscalls` and the consistency test. A number with no
// entry returns ENOSYS, is counted, and is logged once.
package syscalls

import (
	"fmt"
	"sort"
	"sync"

	"github.com/runsc-cri/runsc-cri/sentry/arch"
	"github.com/runsc-cri/runsc-cri/sentry/kernel"
)

// Handler implements one system call. It returns the value for rax, or an
// error: a unix.Errno (returned to the application as -errno) or one of the
// kernel's restart errors (kernel.ERESTARTSYS, ...).
type Handler func(t *kernel.Task, args *arch.SyscallArguments) (uintptr, error)

// Support says how completely a system call is implemented.
type Support int

const (
	// Unimplemented calls return ENOSYS.
	Unimplemented Support = iota
	// Partial calls work for the common cases; the note says what is missing.
	Partial
	// Full calls implement the documented Linux behaviour.
	Full
)

// String names the support level.
func (s Support) String() string {
	switch s {
	case Full:
		return "supported"
	case Partial:
		return "partial"
	}
	return "ENOSYS"
}

// Entry is one row of the table.
type Entry struct {
	Name    string
	Handler Handler
	Support Support
	Note    string
}

// families lists every family's table fragment; a family file adds itself
// here from an init function with addFamily.
var families []map[uintptr]Entry

func addFamily(f map[uintptr]Entry) { families = append(families, f) }

// table is the merged table, indexed by syscall number.
var table [maxSyscall]Entry

// maxSyscall bounds the amd64 syscall numbers we know.
const maxSyscall = 512

// buildOnce merges the table on first use: family init functions run in
// file-name order, after this file's package-level initialisation.
var buildOnce sync.Once

func build() { buildOnce.Do(merge) }

func merge() {
	for nr, name := range syscallNames {
		table[nr] = Entry{Name: name, Support: Unimplemented}
	}
	seen := map[uintptr]bool{}
	for _, f := range families {
		for nr, e := range f {
			if nr >= maxSyscall {
				panic(fmt.Sprintf("syscall %d (%s) out of range", nr, e.Name))
			}
			if seen[nr] {
				panic(fmt.Sprintf("syscall %d (%s) registered twice", nr, e.Name))
			}
			seen[nr] = true
			if e.Name == "" {
				e.Name = syscallNames[nr]
			}
			table[nr] = e
		}
	}
}

// Lookup returns the entry for nr.
func Lookup(nr uintptr) (Entry, bool) {
	build()
	if nr >= maxSyscall || table[nr].Name == "" {
		return Entry{}, false
	}
	return table[nr], true
}

// Row is one line of the support listing.
type Row struct {
	Number uintptr
	Entry
}

// Rows returns every known system call, by number.
func Rows() []Row {
	build()
	var rows []Row
	for nr := range table {
		if table[nr].Name != "" {
			rows = append(rows, Row{uintptr(nr), table[nr]})
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Number < rows[j].Number })
	return rows
}
