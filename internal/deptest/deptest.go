// Package deptest enforces the import direction of runsc-cri (DESIGN.md,
// "Dependencies"; STYLE.md item 1) with a plain go test:
//
//   - nothing under sentry/, platform/, gofer/ or seccomp/ imports gRPC,
//     containerd or k8s packages, directly or through other packages of
//     this module;
//   - gofer/ never reaches sentry/;
//   - platform/ reaches, of this module, only platform/... and sentry/arch
//     (test files of platform/ are exempt from this one rule: they may
//     build a memory file or a kernel to exercise the platform);
//   - of gvisor.dev/gvisor, packages of this module import only
//     pkg/abi/linux(/...), pkg/tcpip/..., pkg/seccomp and pkg/bpf directly
//     (what those import in turn is their business).
//
// Imports are read from the source files with go/parser (ImportsOnly), not
// from a build, so a package that does not compile at the moment (the tree
// grows in parallel) neither hides a violation nor fails the test
// spuriously. Every .go file of a directory is read, whatever its build
// constraints.
package deptest

import (
	"fmt"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Module is this module's path.
const Module = "github.com/runsc-cri/runsc-cri"

// Package is one package of the module: its path relative to the module
// root ("sentry/kernel") and the imports of its files.
type Package struct {
	Rel string
	// Imports maps an import path to the first file (base name) importing it.
	Imports map[string]string
	// TestImports is the same for _test.go files.
	TestImports map[string]string
}

// ParseDir reads the imports of every .go file in dir.
func ParseDir(rel, dir string) (*Package, error) {
	p := &Package{Rel: rel, Imports: map[string]string{}, TestImports: map[string]string{}}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	fset := token.NewFileSet()
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.ImportsOnly)
		if err != nil && f == nil {
			return nil, err
		}
		into := p.Imports
		if strings.HasSuffix(name, "_test.go") {
			into = p.TestImports
		}
		for _, imp := range f.Imports {
			path, err := strconv.Unquote(imp.Path.Value)
			if err != nil {
				continue
			}
			if _, ok := into[path]; !ok {
				into[path] = name
			}
		}
	}
	return p, nil
}

// Violation is one broken rule.
type Violation struct {
	Pkg  string   // importing package, relative to the module root
	File string   // file with the offending import (of Pkg, or of the last package in Via)
	Via  []string // packages of this module between Pkg and the import
	Bad  string   // the offending import path
	Rule string   // which rule, in words
}

func (v Violation) String() string {
	s := fmt.Sprintf("%s imports %s", v.Pkg, v.Bad)
	if len(v.Via) > 0 {
		s = fmt.Sprintf("%s imports %s (via %s)", v.Pkg, v.Bad, strings.Join(v.Via, " -> "))
	}
	return fmt.Sprintf("%s [%s]: %s", s, v.File, v.Rule)
}

// Rules, in words, as printed in failures.
const (
	ruleCoreExternal = "nothing under sentry/, platform/, gofer/ or seccomp/ may import gRPC, containerd or k8s packages"
	ruleGoferSentry  = "gofer/ must never import sentry/"
	rulePlatform     = "platform/ may import, of this module, only platform/... and sentry/arch"
	ruleGVisor       = "of gvisor.dev/gvisor only pkg/abi/linux/..., pkg/tcpip/..., pkg/seccomp and pkg/bpf may be imported"
)

func under(rel string, dirs ...string) bool {
	for _, d := range dirs {
		if rel == d || strings.HasPrefix(rel, d+"/") {
			return true
		}
	}
	return false
}

func hasPrefixPath(path, prefix string) bool {
	return path == prefix || strings.HasPrefix(path, prefix+"/")
}

// forbiddenInCore reports whether the core (sentry, platform, gofer,
// seccomp) may not import path.
func forbiddenInCore(path string) bool {
	return hasPrefixPath(path, "google.golang.org/grpc") ||
		hasPrefixPath(path, "github.com/containerd") ||
		hasPrefixPath(path, "k8s.io")
}

// GVisorAllowed reports whether a package of this module may import the
// gVisor package path directly: the ABI definitions, netstack, the
// seccomp/BPF builder, and pkg/waiter, which netstack's own API takes
// (endpoints are created with a *waiter.Queue), so it is part of using
// netstack as a library, not a piece of gVisor's sentry.
func GVisorAllowed(path string) bool {
	const g = "gvisor.dev/gvisor/"
	if !strings.HasPrefix(path, g) {
		return true
	}
	p := strings.TrimPrefix(path, g)
	return hasPrefixPath(p, "pkg/abi/linux") || hasPrefixPath(p, "pkg/tcpip") ||
		p == "pkg/seccomp" || p == "pkg/bpf" || p == "pkg/waiter"
}

func isGVisor(path string) bool { return hasPrefixPath(path, "gvisor.dev/gvisor") }

// relOf returns the module-relative path of an import of this module.
func relOf(path string) (string, bool) {
	if path == Module {
		return "", true
	}
	if strings.HasPrefix(path, Module+"/") {
		return strings.TrimPrefix(path, Module+"/"), true
	}
	return "", false
}

// Check applies every rule to pkgs (keyed by Rel) and returns the
// violations, sorted.
func Check(pkgs map[string]*Package) []Violation {
	var out []Violation
	for _, rel := range sortedKeys(pkgs) {
		p := pkgs[rel]
		// Direct imports of gVisor, by any package, tests included.
		for _, m := range []map[string]string{p.Imports, p.TestImports} {
			for _, imp := range sortedKeys(m) {
				if isGVisor(imp) && !GVisorAllowed(imp) {
					out = append(out, Violation{Pkg: rel, File: m[imp], Bad: imp, Rule: ruleGVisor})
				}
			}
		}
		if !under(rel, "sentry", "platform", "gofer", "seccomp") {
			continue
		}
		for _, r := range reach(pkgs, p, false) {
			imp := r.imp
			switch {
			case forbiddenInCore(imp):
				out = append(out, Violation{Pkg: rel, File: r.file, Via: r.via, Bad: imp, Rule: ruleCoreExternal})
			case under(rel, "gofer") && isOurs(imp, "sentry"):
				out = append(out, Violation{Pkg: rel, File: r.file, Via: r.via, Bad: imp, Rule: ruleGoferSentry})
			case under(rel, "platform") && isOursAny(imp) && !isOurs(imp, "platform") && !isOurs(imp, "sentry/arch"):
				out = append(out, Violation{Pkg: rel, File: r.file, Via: r.via, Bad: imp, Rule: rulePlatform})
			}
		}
		// Test files: the external rules hold, the platform layering does not.
		for _, r := range reach(pkgs, p, true) {
			imp := r.imp
			switch {
			case forbiddenInCore(imp):
				out = append(out, Violation{Pkg: rel, File: r.file, Via: r.via, Bad: imp, Rule: ruleCoreExternal})
			case under(rel, "gofer") && isOurs(imp, "sentry"):
				out = append(out, Violation{Pkg: rel, File: r.file, Via: r.via, Bad: imp, Rule: ruleGoferSentry})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].String() < out[j].String() })
	return dedup(out)
}

func isOursAny(path string) bool { _, ok := relOf(path); return ok }

func isOurs(path, dir string) bool {
	rel, ok := relOf(path)
	return ok && under(rel, dir)
}

type reached struct {
	imp  string
	file string
	via  []string
}

// reach lists every import reachable from p: p's own (test files' if tests),
// then the imports of the module's packages it reaches, transitively
// through the module's non-test files. Each import is reported once, by its
// shortest path.
func reach(pkgs map[string]*Package, p *Package, tests bool) []reached {
	var out []reached
	seenImp := map[string]bool{}
	seenPkg := map[string]bool{p.Rel: true}
	type item struct {
		pkg *Package
		via []string
	}
	first := p.Imports
	if tests {
		first = p.TestImports
	}
	queue := []item{}
	visit := func(m map[string]string, via []string) {
		for _, imp := range sortedKeys(m) {
			if !seenImp[imp] {
				seenImp[imp] = true
				out = append(out, reached{imp: imp, file: m[imp], via: via})
			}
			if rel, ok := relOf(imp); ok && !seenPkg[rel] {
				seenPkg[rel] = true
				if q := pkgs[rel]; q != nil {
					queue = append(queue, item{q, append(append([]string(nil), via...), rel)})
				}
			}
		}
	}
	visit(first, nil)
	for len(queue) > 0 {
		it := queue[0]
		queue = queue[1:]
		visit(it.pkg.Imports, it.via)
	}
	return out
}

func dedup(vs []Violation) []Violation {
	var out []Violation
	for i, v := range vs {
		if i > 0 && v.String() == vs[i-1].String() {
			continue
		}
		out = append(out, v)
	}
	return out
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
