package deptest

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Load finds the module's packages under root (the module root) with
// `go list -e ./...` and parses their imports. If go list itself fails (for
// example while go.mod is being changed), it falls back to walking the tree
// with go's own rules (skipping testdata, out, and directories whose names
// start with "." or "_"); note says which was used.
func Load(root string) (pkgs map[string]*Package, note string, err error) {
	dirs, err := goList(root)
	if err != nil {
		note = fmt.Sprintf("go list failed (%v); walked the tree instead", err)
		if dirs, err = walk(root); err != nil {
			return nil, note, err
		}
	}
	pkgs = make(map[string]*Package)
	for rel, dir := range dirs {
		p, err := ParseDir(rel, dir)
		if err != nil {
			return nil, note, fmt.Errorf("parsing %s: %w", rel, err)
		}
		pkgs[rel] = p
	}
	return pkgs, note, nil
}

func goList(root string) (map[string]string, error) {
	cmd := exec.Command("go", "list", "-e", "-mod=readonly", "-f", "{{.ImportPath}}\t{{.Dir}}", "./...")
	cmd.Dir = root
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%v: %s", err, strings.TrimSpace(stderr.String()))
	}
	dirs := make(map[string]string)
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		path, dir, ok := strings.Cut(line, "\t")
		if !ok {
			continue
		}
		rel, ours := relOf(path)
		if !ours {
			continue
		}
		dirs[rel] = dir
	}
	if len(dirs) == 0 {
		return nil, fmt.Errorf("go list found no packages")
	}
	return dirs, nil
}

func walk(root string) (map[string]string, error) {
	dirs := make(map[string]string)
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			return nil
		}
		name := d.Name()
		if path != root && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata" || name == "out" || name == "vendor") {
			return filepath.SkipDir
		}
		if path != root {
			if _, err := os.Stat(filepath.Join(path, "go.mod")); err == nil {
				return filepath.SkipDir // another module
			}
		}
		matches, _ := filepath.Glob(filepath.Join(path, "*.go"))
		if len(matches) == 0 {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		if rel == "." {
			rel = ""
		}
		dirs[filepath.ToSlash(rel)] = path
		return nil
	})
	return dirs, err
}
