package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPatchesAreWellFormed reads every planted bug: a header comment, at
// least one file, and a unique name. (Whether they still apply and build
// is `go run ./sim/mutants -check`, run by .ci/run.)
func TestPatchesAreWellFormed(t *testing.T) {
	files, err := filepath.Glob("*.patch")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) < 15 {
		t.Fatalf("%d patches, want at least 15", len(files))
	}
	names := map[string]bool{}
	for _, f := range files {
		m, err := readPatch(f)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(m.comment, "catch") {
			t.Errorf("%s: the header does not say which invariant should catch it: %q", f, m.comment)
		}
		name := strings.SplitN(m.name(), "-", 2)[1]
		if names[name] {
			t.Errorf("%s: name used twice", f)
		}
		names[name] = true
	}
}

func TestReadPatchNeedsHeader(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.patch")
	if err := os.WriteFile(p, []byte("diff --git a/a.go b/a.go\n--- a/a.go\n+++ b/a.go\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := readPatch(p); err == nil {
		t.Fatal("a patch without a header comment was accepted")
	}
	if err := os.WriteFile(p, []byte("# plants x; hash_chain should catch it\n--- a/replica/a.go\n+++ b/replica/a.go\n--- a/journal/b.go\n+++ b/journal/b.go\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := readPatch(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(m.pkgs, " "); got != "./replica ./journal" {
		t.Fatalf("packages %q", got)
	}
}

func TestParseWorker(t *testing.T) {
	var m mutant
	parseWorker(&m, []byte("seed 1\nseed 2\nseed 3\ncaught 3 hash_chain replica 1 committed op 100\n"))
	if m.status != "caught" || m.seed != 3 || m.seedsRun != 3 || m.invariant != "hash_chain" || m.message != "replica 1 committed op 100" {
		t.Fatalf("%+v", m)
	}
	m = mutant{}
	parseWorker(&m, []byte("seed 1\nseed 2\nmissed 2\n"))
	if m.status != "missed" || m.seedsRun != 2 {
		t.Fatalf("%+v", m)
	}
	m = mutant{}
	parseWorker(&m, []byte("seed 1\nseed 2\n")) // killed in seed 2
	if m.status != "" || m.seed != 2 {
		t.Fatalf("%+v", m)
	}
}
