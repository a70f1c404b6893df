// Package allocs counts, for tests, the heap allocations made by one
// package's code while a function runs — exactly, whatever else the process
// is doing.
//
// runtime.ReadMemStats (and testing.AllocsPerRun, which uses it) counts
// every heap object of the process: the runtime's own too. Its stop-the-world
// restarts idle processors, and on a loaded machine that can create an OS
// thread (runtime.newm allocates the M, its g0 and profiling buffers) or
// queue on a contended semaphore (a sudog); a test asserting "0 mallocs"
// then fails now and then on a busy machine (seen on the first `go test
// ./...` of a fresh clone, when compilation loads both cores). Count
// attributes each allocation to its call stack instead, through the memory
// profile at a sampling rate of 1, and counts only those made under the
// given package's own (non-test) code.
package allocs

import (
	"fmt"
	"runtime"
	"strings"
)

// Count runs fn and returns the number of heap objects allocated while it
// ran by code of the package with import path pkg (frames in its _test.go
// files excluded), with one line per allocating call stack for a failure
// message. Not safe to use from tests that run in parallel: it sets
// runtime.MemProfileRate for the duration of the call.
func Count(pkg string, fn func()) (n int64, stacks []string) {
	old := runtime.MemProfileRate
	runtime.MemProfileRate = 1
	defer func() { runtime.MemProfileRate = old }()

	// The memory profile publishes the allocations of a cycle at the end of
	// the next garbage collection; two collections before and after fence
	// fn's allocations in.
	runtime.GC()
	runtime.GC()
	before := snapshot()
	run(fn)
	runtime.GC()
	runtime.GC()
	after := snapshot()

	for stack, objects := range after {
		d := objects - before[stack]
		if d <= 0 {
			continue
		}
		frames, ok := underPackage(stack, pkg)
		if !ok {
			continue
		}
		n += d
		stacks = append(stacks, fmt.Sprintf("%d × %s", d, frames))
	}
	return n, stacks
}

// run calls fn; its frame marks the allocations made under fn.
//
//go:noinline
func run(fn func()) { fn() }

func snapshot() map[[32]uintptr]int64 {
	var records []runtime.MemProfileRecord
	for {
		n, ok := runtime.MemProfile(records, true)
		if ok {
			records = records[:n]
			break
		}
		records = make([]runtime.MemProfileRecord, n+64)
	}
	m := make(map[[32]uintptr]int64, len(records))
	for _, r := range records {
		m[r.Stack0] += r.AllocObjects
	}
	return m
}

// underPackage reports whether stack was allocated under run, by a frame of
// pkg's non-test code called from there, and renders the stack.
func underPackage(stack [32]uintptr, pkg string) (string, bool) {
	var pcs []uintptr
	for _, pc := range stack {
		if pc == 0 {
			break
		}
		pcs = append(pcs, pc)
	}
	frames := runtime.CallersFrames(pcs)
	var b strings.Builder
	found, underRun := false, false
	for {
		f, more := frames.Next()
		if f.Function == runFunction {
			underRun = true
		}
		if !underRun && inPackage(f.Function, pkg) && !strings.HasSuffix(f.File, "_test.go") {
			found = true
		}
		if b.Len() > 0 {
			b.WriteString(" <- ")
		}
		b.WriteString(f.Function)
		if !more {
			break
		}
	}
	return b.String(), found && underRun
}

const runFunction = "github.com/chronon-db/chronon/internal/allocs.run"

// inPackage reports whether the function name fn (as runtime.Frame gives
// it: "path/pkg.Func", "path/pkg.(*T).Method", "path/pkg.Func.func1")
// belongs to package pkg itself, not to a package below it.
func inPackage(fn, pkg string) bool {
	rest, ok := strings.CutPrefix(fn, pkg)
	return ok && strings.HasPrefix(rest, ".")
}
