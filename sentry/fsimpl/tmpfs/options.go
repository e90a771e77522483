package tmpfs

import (
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/runsc-cri/runsc-cri/sentry/kernel/auth"
)

// ParseOptions parses tmpfs mount data as mount(8) and OCI specs write it:
// "size=64m,mode=1777,uid=0,gid=0,nr_inodes=...". size takes k/m/g suffixes
// or a percentage of total (the memory file's size, passed as total).
// Unknown options (and nr_inodes, huge, ...) are ignored, as flags like
// "nosuid" belong to the mount, not the filesystem.
func ParseOptions(data string, total uint64) (Options, error) {
	var o Options
	for _, kv := range strings.Split(data, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(kv), "=")
		switch k {
		case "size":
			n, err := parseSize(v, total)
			if err != nil {
				return o, err
			}
			o.SizeLimit = n
		case "mode":
			m, err := strconv.ParseUint(v, 8, 32)
			if err != nil || m > 0o7777 {
				return o, unix.EINVAL
			}
			o.RootMode = uint32(m)
		case "uid":
			u, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return o, unix.EINVAL
			}
			o.RootUID = auth.KUID(u)
		case "gid":
			g, err := strconv.ParseUint(v, 10, 32)
			if err != nil {
				return o, unix.EINVAL
			}
			o.RootGID = auth.KGID(g)
		}
	}
	return o, nil
}

func parseSize(v string, total uint64) (uint64, error) {
	if v == "" {
		return 0, unix.EINVAL
	}
	if strings.HasSuffix(v, "%") {
		p, err := strconv.ParseUint(strings.TrimSuffix(v, "%"), 10, 64)
		if err != nil || p > 100 {
			return 0, unix.EINVAL
		}
		return total / 100 * p, nil
	}
	mult := uint64(1)
	switch v[len(v)-1] {
	case 'k', 'K':
		mult = 1 << 10
	case 'm', 'M':
		mult = 1 << 20
	case 'g', 'G':
		mult = 1 << 30
	}
	if mult != 1 {
		v = v[:len(v)-1]
	}
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil || n > ^uint64(0)/mult {
		return 0, unix.EINVAL
	}
	return (n*mult + 4095) &^ 4095, nil
}
