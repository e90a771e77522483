package cri

import (
	"go/parser"
	"go/token"
	"io/fs"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestTalksToSentriesOnlyThroughControl: no file under cri/ imports a
// sentry package other than sentry/control (DESIGN.md: the daemon never
// imports sentry internals), nor gofer internals, nor platforms.
func TestTalksToSentriesOnlyThroughControl(t *testing.T) {
	const m = "github.com/runsc-cri/runsc-cri/"
	err := filepath.WalkDir(".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
			return err
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			bad := (strings.HasPrefix(p, m+"sentry/") && p != m+"sentry/control") ||
				strings.HasPrefix(p, m+"platform") || strings.HasPrefix(p, m+"gofer/")
			if bad {
				t.Errorf("%s imports %s", path, p)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
