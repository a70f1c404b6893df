// Package invariants is Chronon's assertion helper, after pebble's
// internal/invariants: a broken internal invariant (a bug in the code, never
// bad bytes from a disk, a network or a user) stops the process with a
// panic that says which invariant broke.
//
// Two kinds of check:
//
//   - Cheap checks run in every build: Assert with a constant message (no
//     allocation, inlined), or `if !cond { invariants.Failf(...) }` when the
//     message needs values (the arguments are boxed only on failure).
//     Assertf formats too but boxes its arguments on every call: use it off
//     hot paths only.
//   - Expensive checks (re-reading what was just written, walking a whole
//     structure) run only when Enabled, that is in builds with the
//     invariants tag (go test -tags invariants, go run -tags invariants
//     ./cmd/chronon vopr). Write them as `if invariants.Enabled { ... }`, or
//     as a function whose first statement is
//     `if !invariants.Enabled { return }`: the compiler removes the check
//     from normal builds.
//
// internal/tools/asserts counts the assertions per package and function
// (docs/architecture.md, "Assertions").
//
// What belongs here: conditions the code itself guarantees. What does not:
// anything an input can make false. Bytes read from storage or received from
// a peer are checked and rejected with an error; asserting on them would let
// a damaged disk or a hostile peer crash the replica.
package invariants

import "fmt"

// Enabled reports whether expensive invariant checks are compiled in: true
// in builds with the invariants build tag, false otherwise. It is a
// constant, so `if invariants.Enabled { ... }` costs nothing when false.
const Enabled = enabled

// Violation is the panic value of a failed assertion.
type Violation struct {
	// Message says which invariant broke, prefixed with the package
	// ("journal: slot 3 out of range").
	Message string
}

// Error returns the message with the "assertion failed: " prefix.
func (v *Violation) Error() string { return "assertion failed: " + v.Message }

// Assert panics with a *Violation carrying msg when cond is false. msg
// should be a constant: a computed message would be built on every call.
func Assert(cond bool, msg string) {
	if !cond {
		fail(msg)
	}
}

// Assertf panics with a *Violation carrying the formatted message when cond
// is false. Its arguments are evaluated and boxed on every call (an
// allocation each for most non-constant values): use it off hot paths, and
// `if !cond { Failf(...) }` on them.
func Assertf(cond bool, format string, args ...any) {
	if !cond {
		fail(fmt.Sprintf(format, args...))
	}
}

// Failf panics with a *Violation carrying the formatted message. Call it in
// the branch where an invariant is known to be broken.
func Failf(format string, args ...any) {
	fail(fmt.Sprintf(format, args...))
}

// fail is not inlined, so that Assert stays small enough to be.
//
//go:noinline
func fail(msg string) {
	panic(&Violation{Message: msg})
}
