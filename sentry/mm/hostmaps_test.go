package mm

import (
	"bufio"
	"errors"
	"os"
	"strings"
)

// readHostMapsLine returns a line of the host's /proc/self/maps naming a file
// with a 12-digit address range.
func readHostMapsLine() (string, error) {
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return "", err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		l := s.Text()
		if strings.Index(l, "-") == 12 && strings.Contains(l, " /") {
			return l, nil
		}
	}
	return "", errors.New("no suitable host maps line")
}
