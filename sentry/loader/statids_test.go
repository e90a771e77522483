package loader

import (
	"os"
	"syscall"
)

func statIDs(st os.FileInfo) (uint64, uint64) {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return s.Dev, s.Ino
	}
	return 0, 0
}
