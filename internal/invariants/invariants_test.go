package invariants

import (
	"errors"
	"testing"
)

func panicValue(f func()) (v any) {
	defer func() { v = recover() }()
	f()
	return nil
}

func TestAssert(t *testing.T) {
	if v := panicValue(func() { Assert(true, "fine") }); v != nil {
		t.Fatalf("Assert(true) panicked: %v", v)
	}
	v := panicValue(func() { Assert(1+1 == 3, "pkg: arithmetic") })
	var violation *Violation
	if err, ok := v.(error); !ok || !errors.As(err, &violation) || violation.Message != "pkg: arithmetic" {
		t.Fatalf("Assert(false) panicked with %#v, want a *Violation with the message", v)
	}
	if got := violation.Error(); got != "assertion failed: pkg: arithmetic" {
		t.Fatalf("Error() = %q", got)
	}
}

func TestAssertfFailf(t *testing.T) {
	if v := panicValue(func() { Assertf(true, "x %d", 1) }); v != nil {
		t.Fatalf("Assertf(true) panicked: %v", v)
	}
	for _, f := range []func(){
		func() { Assertf(false, "slot %d of %d", 3, 2) },
		func() { Failf("slot %d of %d", 3, 2) },
	} {
		v, ok := panicValue(f).(*Violation)
		if !ok || v.Message != "slot 3 of 2" {
			t.Fatalf("panicked with %#v, want a *Violation \"slot 3 of 2\"", v)
		}
	}
}

// TestAssertDoesNotAllocate pins the hot-path promise: a passing Assert
// with a constant message allocates nothing.
func TestAssertDoesNotAllocate(t *testing.T) {
	x := 3
	n := testing.AllocsPerRun(100, func() { Assert(x > 0, "positive") })
	if n != 0 {
		t.Fatalf("Assert allocates %v times per call", n)
	}
}
