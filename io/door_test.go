package io

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
)

// doorImports are the packages through which Go code reaches the operating
// system directly: raw system calls (syscall, golang.org/x/sys/...) and
// sockets (net). Outside io/ product code must not import them; the event
// loop is the only door to the OS (files, sockets, socket options).
// Packages built on top of them for other purposes (os for paths and
// processes, net/http for the outbox's HTTP sink and the metrics page) are
// not policed here.
func isDoorImport(path string) bool {
	return path == "syscall" || path == "net" || strings.HasPrefix(path, "golang.org/x/sys/")
}

// doorExceptions are the product packages (directory relative to the module
// root) allowed one of the door imports, each with the reason. Every entry
// must still be needed: TestOnlyIOOpensTheDoor fails on a stale one.
var doorExceptions = []struct {
	dir, imp, why string
}{
	// Process signals are not I/O: os offers only os.Interrupt and os.Kill,
	// and SIGTERM (what a supervisor sends) comes from syscall.
	{"cmd/chronon", "syscall", "SIGTERM for signal.NotifyContext (start, chaos)"},
	// The metrics page is plain net/http on its own goroutine, outside
	// the replica's loop; net.Listen reports a bad --metrics address
	// before the replica starts.
	{"cmd/chronon", "net", "listener of the --metrics HTTP page"},
	// The chaos run controls replica processes from outside, as an
	// operator would.
	{"internal/chaos", "syscall", "SIGKILL, SIGSTOP, SIGCONT, SIGTERM to the replica processes it runs"},
	{"internal/chaos", "net", "reserving loopback ports for its processes; the effects receiver's HTTP listener"},
	// The client is a library inside other programs: it runs on their
	// goroutines with Go's own net package (portable, pure Go), and owns no
	// event loop.
	{"client", "net", "the Go client's connections to the replicas (net.Conn)"},
	// TLS for clients runs on goroutines in front of the replica's
	// plaintext port: crypto/tls works on a net.Conn.
	{"internal/tlsfront", "net", "the TLS front's listener and its connections to the replica (tlsfront)"},
	// An embedded cluster picks its loopback ports before its replicas
	// start, so every replica knows every address.
	{"cluster", "net", "reserving free loopback ports (freePorts)"},
	// The benchmark reports its process's CPU time and peak RSS: a
	// resource query, not I/O.
	{"bench", "syscall", "getrusage for CPU time and peak RSS (rusage.go)"},
	// The ledger-effects workload's effects sink is an HTTP server in the
	// benchmark's process, as a user's webhook would be.
	{"bench", "net", "the ledger-effects workload's HTTP sink listener (effects.go)"},
	// The peer benchmark (its own module, not built by go test ./...)
	// runs etcd and Chronon servers as processes from outside, as an
	// operator would.
	{"bench/peers", "syscall", "SIGTERM to the server processes it runs, and their own process group"},
	{"bench/peers", "net", "reserving loopback ports for its server processes"},
	// The PostgreSQL sink's commands (their own module, not built by go
	// test ./...) are servers and operators' tools outside the replica.
	{"sinks/postgres/cmd/chronon-pg-bridge", "net", "the bridge's HTTP listener (its address checked before serving)"},
	{"sinks/postgres/cmd/chronon-pg-bridge", "syscall", "SIGTERM for signal.NotifyContext"},
	{"sinks/postgres/cmd/chronon-pgchaos", "syscall", "SIGTERM for signal.NotifyContext"},
	{"sinks/postgres/internal/pgchaos", "net", "the chaos run's bridge listener on a loopback port"},
	// journal.FileStorage is the synchronous O_DIRECT storage of format,
	// inspect and offline tools; the replica's own journal runs on io
	// (journal.IOStorage).
	{"journal", "golang.org/x/sys/unix", "FileStorage (storage_file_linux.go): format, inspect and offline tools; ReleaseMemory (madvise, release_linux.go)"},
}

// TestOnlyIOOpensTheDoor parses every non-test Go file of the module (all
// build tags, so darwin-only files count too) and fails if a package outside
// io/ imports syscall, golang.org/x/sys/... or net, unless doorExceptions
// allows that package that import.
func TestOnlyIOOpensTheDoor(t *testing.T) {
	// The test runs in io's directory; the module root is the nearest
	// directory above it with a go.mod.
	here, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	root := here
	for {
		if _, err := os.Stat(filepath.Join(root, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(root)
		if parent == root {
			t.Fatalf("no go.mod above %s", here)
		}
		root = parent
	}
	ioDir, _ := filepath.Rel(root, here)
	ioDir = filepath.ToSlash(ioDir)
	type use struct{ dir, imp string }
	found := map[use][]string{} // -> files
	fset := token.NewFileSet()
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		rel = filepath.ToSlash(rel)
		if d.IsDir() {
			name := d.Name()
			if rel == ioDir || name == "testdata" || name == "vendor" || (strings.HasPrefix(name, ".") && rel != ".") || strings.HasPrefix(name, "_") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(rel, ".go") || strings.HasSuffix(rel, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		for _, spec := range f.Imports {
			imp, err := strconv.Unquote(spec.Path.Value)
			if err != nil {
				return err
			}
			if isDoorImport(imp) {
				u := use{filepath.ToSlash(filepath.Dir(rel)), imp}
				found[u] = append(found[u], rel)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	allowed := map[use]bool{}
	for _, e := range doorExceptions {
		allowed[use{e.dir, e.imp}] = true
		if len(found[use{e.dir, e.imp}]) == 0 {
			t.Errorf("stale exception: %s no longer imports %q; delete its entry from doorExceptions in io/door_test.go", e.dir, e.imp)
		}
	}
	var violations []string
	for u, files := range found {
		if !allowed[u] {
			violations = append(violations, strings.Join(files, ", ")+" import "+strconv.Quote(u.imp))
		}
	}
	sort.Strings(violations)
	for _, v := range violations {
		t.Errorf("%s: only package io talks to the OS (files, sockets, system calls); add what you need to io, or, for something that is not I/O, add a commented entry to doorExceptions in io/door_test.go", v)
	}
}
