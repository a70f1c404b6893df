package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chronon-db/chronon/sim"
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

// TestEvaluateCheck runs the -check path on a tiny module: a patch that
// applies and builds is ok, one whose context is gone is stale, one that
// does not compile is broken, and the tree itself is never changed.
func TestEvaluateCheck(t *testing.T) {
	if testing.Short() {
		t.Skip("runs git apply and go vet")
	}
	root := t.TempDir()
	write := func(path, text string) {
		t.Helper()
		p := filepath.Join(root, path)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const src = "package a\n\n// Quorum is a majority.\nfunc Quorum(n int) int {\n\treturn n/2 + 1\n}\n"
	write("go.mod", "module example.com/m\n\ngo 1.22\n")
	write("a/a.go", src)
	hunk := func(old, new string) string {
		return "# plants x; hash_chain should catch it\n--- a/a/a.go\n+++ b/a/a.go\n@@ -4,3 +4,3 @@\n func Quorum(n int) int {\n-" + old + "\n+" + new + "\n }\n"
	}
	write("sim/mutants/01-ok.patch", hunk("\treturn n/2 + 1", "\treturn n / 2"))
	write("sim/mutants/02-stale.patch", hunk("\treturn n/2 + 2", "\treturn n / 2"))
	write("sim/mutants/03-broken.patch", hunk("\treturn n/2 + 1", "\treturn n / nope"))
	tracked := []string{"go.mod", "a/a.go"}
	for name, want := range map[string]string{"01-ok.patch": "ok", "02-stale.patch": "stale", "03-broken.patch": "broken"} {
		m, err := readPatch(filepath.Join(root, "sim/mutants", name))
		if err != nil {
			t.Fatal(err)
		}
		evaluate(root, filepath.Join(t.TempDir(), "tree"), tracked, m, options{check: true, timeout: time.Minute})
		if m.status != want {
			t.Errorf("%s: status %q (%s), want %q", name, m.status, m.message, want)
		}
	}
	if b, _ := os.ReadFile(filepath.Join(root, "a/a.go")); string(b) != src {
		t.Fatalf("the tree itself was patched:\n%s", b)
	}
}

// TestOptionsLine checks the "# options:" directive: its words become
// worker flags the worker accepts, each setting its sim.Options field, and
// an unknown word is refused.
func TestOptionsLine(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.patch")
	body := "--- a/replica/a.go\n+++ b/replica/a.go\n"
	if err := os.WriteFile(p, []byte("# plants x; panic should catch it\n# options: --pause --checkpoint-rot\n"+body), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := readPatch(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(m.options, " "); got != "-pause -checkpoint-rot" {
		t.Fatalf("options %q", got)
	}
	var out, errOut strings.Builder
	if rc := run(append([]string{"-worker", "-seeds", "0"}, m.options...), &out, &errOut); rc != 0 || !strings.Contains(out.String(), "missed 0") {
		t.Fatalf("worker with %v: rc %d, %q %q", m.options, rc, out.String(), errOut.String())
	}
	for _, v := range voprOptions {
		var o sim.Options
		*v.field(&o) = true
		if o == (sim.Options{}) {
			t.Errorf("--%s sets no field", v.flag)
		}
	}
	for _, bad := range []string{"--seeds 5", "pause", "--no-such-fault", ""} {
		if err := os.WriteFile(p, []byte("# plants x; panic should catch it\n# options:"+bad+"\n"+body), 0o644); err != nil {
			t.Fatal(err)
		}
		if _, err := readPatch(p); err == nil {
			t.Errorf("options line %q accepted", bad)
		}
	}
}
