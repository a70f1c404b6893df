package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const sample = `package sample

import (
	"fmt"

	inv "github.com/chronon-db/chronon/internal/invariants"
)

type T struct{ n int }

func (t *T) Add(x int) {
	inv.Assert(x > 0, "sample: x positive")
	t.n += x
	if t.n < 0 {
		panic(fmt.Sprintf("sample: overflow %d", t.n))
	}
	if inv.Enabled {
		inv.Assertf(t.n >= x, "sample: %d", t.n)
	}
}

func (t *T) check() {
	if !inv.Enabled {
		return
	}
	for i := 0; i < t.n; i++ {
		inv.Assert(i >= 0, "sample: i")
	}
	f := func() { panic("sample: " + "closure") }
	_ = f
}

func rethrow(err error) {
	if p := recover(); p != nil {
		panic(p)
	}
	panic(err)
}

func plain() int { return 1 }
`

// TestCount pins what counts: helper calls (under the import's local
// name), message panics (literal, concatenation, fmt.Sprintf, closures
// included), not panics of values; tag-only by `if Enabled` and by an
// opening `if !Enabled { return }`.
func TestCount(t *testing.T) {
	p := &pkgCount{Dir: "sample"}
	if err := countFile(p, "sample.go", []byte(sample)); err != nil {
		t.Fatal(err)
	}
	want := []funcCount{
		{Name: "T.Add", File: "sample.go", Line: 11, Asserts: 3, TagOnly: 1},
		{Name: "T.check", File: "sample.go", Line: 22, Asserts: 2, TagOnly: 2},
		{Name: "rethrow", File: "sample.go", Line: 33, Asserts: 0},
		{Name: "plain", File: "sample.go", Line: 40, Asserts: 0},
	}
	if len(p.Funcs) != len(want) {
		t.Fatalf("got %d functions %+v, want %d", len(p.Funcs), p.Funcs, len(want))
	}
	for i := range want {
		if p.Funcs[i] != want[i] {
			t.Errorf("function %d: got %+v, want %+v", i, p.Funcs[i], want[i])
		}
	}
	if total, tag := p.asserts(); total != 5 || tag != 3 {
		t.Errorf("package: %d assertions (%d tag-only), want 5 (3)", total, tag)
	}
}

// TestRequire runs the command on a one-package tree: -require fails below
// the bar and passes at it.
func TestRequire(t *testing.T) {
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "sample"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "sample", "sample.go"), []byte(sample), 0o644); err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run([]string{"-root", root, "-require", "sample=1.25"}, &out, &errOut); code != 0 {
		t.Fatalf("5 assertions in 4 functions failed -require sample=1.25 (exit %d): %s%s", code, out.String(), errOut.String())
	}
	out.Reset()
	if code := run([]string{"-root", root, "-require", "sample=1.3"}, &out, &errOut); code != 1 || !strings.Contains(out.String(), "FAIL sample") {
		t.Fatalf("-require sample=1.3: exit %d, output %q; want exit 1 and a FAIL line", code, out.String())
	}
	out.Reset()
	if code := run([]string{"-root", root, "-funcs", "sample"}, &out, &errOut); code != 0 || !strings.Contains(out.String(), "T.Add") {
		t.Fatalf("-funcs sample: exit %d, output %q", code, out.String())
	}
}
