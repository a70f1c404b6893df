package layering

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

const module = "github.com/chronon-db/chronon/"

// checksums are the outside packages wire's checksums need (xxh3 and its
// CPU feature detection).
var checksums = []string{"github.com/zeebo/xxh3", "github.com/klauspost/cpuid/v2"}

// base is what every core package may use besides those: the assertion
// helper (standard library only, see its own rule).
var base = append([]string{"internal/invariants"}, checksums...)

// rules lists, per core package, every non-standard package it may depend
// on, directly or not: project packages by their path in the module,
// others by import path.
var rules = map[string][]string{
	// Consensus: no effects (outbox), no storage (journal), no I/O (io,
	// x/sys); the node and the simulator connect it to those.
	"replica":      append([]string{"wire", "statemachine"}, base...),
	"statemachine": append([]string{"wire"}, base...),
	// The data file: its storage runs on the io event loop.
	"journal": append([]string{"wire", "io", "golang.org/x/sys/unix"}, base...),
	"wire":    base,
	// Assertions: the standard library only.
	"internal/invariants": nil,
}

// TestCoreImports fails when a core package depends, directly or through
// another package, on a package its rule does not list.
func TestCoreImports(t *testing.T) {
	goCmd := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := exec.LookPath(goCmd); err != nil {
		goCmd = "go"
	}
	for pkg, allowed := range rules {
		out, err := exec.Command(goCmd, "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", module+pkg).Output()
		if err != nil {
			t.Fatalf("go list %s: %v", pkg, err)
		}
		deps := strings.Fields(string(out))
		if !slices.Contains(deps, module+pkg) {
			t.Fatalf("go list -deps %s does not list the package itself: %q", pkg, deps)
		}
		for _, d := range deps {
			name := strings.TrimPrefix(d, module)
			if name != pkg && !slices.Contains(allowed, name) {
				t.Errorf("%s depends on %s; it may depend only on %v and the standard library", pkg, d, allowed)
			}
		}
	}
}
