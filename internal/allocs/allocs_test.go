package allocs

import (
	"strings"
	"testing"
)

var sink []byte

//go:noinline
func allocate(n int) {
	for range n {
		sink = make([]byte, 64)
	}
}

func TestCountSeesOnlyFnsAllocations(t *testing.T) {
	// allocate is test code, so count what the runtime allocates for it:
	// only fn's allocations, not Count's own bookkeeping.
	n, stacks := Count("runtime", func() { allocate(3) })
	if n != 3 {
		t.Fatalf("counted %d allocations, want 3: %v", n, stacks)
	}
	if len(stacks) != 1 || !strings.Contains(stacks[0], "allocs.allocate") {
		t.Fatalf("stacks: %v", stacks)
	}
	if n, stacks := Count("runtime", func() {}); n != 0 {
		t.Fatalf("an empty function: %d allocations: %v", n, stacks)
	}
}

func TestCountIgnoresOtherPackages(t *testing.T) {
	n, stacks := Count("github.com/chronon-db/chronon/wire", func() { allocate(5) })
	if n != 0 {
		t.Fatalf("allocations of another package counted: %d: %v", n, stacks)
	}
}

func TestInPackage(t *testing.T) {
	const p = "example.com/a/ledger"
	for fn, want := range map[string]bool{
		"example.com/a/ledger.New":             true,
		"example.com/a/ledger.(*Ledger).Apply": true,
		"example.com/a/ledger.Func.func1":      true,
		"example.com/a/ledgerx.New":            false,
		"example.com/a/ledger/sub.New":         false,
		"runtime.mallocgc":                     false,
		"example.com/a/ledger":                 false,
	} {
		if got := inPackage(fn, p); got != want {
			t.Errorf("inPackage(%q) = %v, want %v", fn, got, want)
		}
	}
}
