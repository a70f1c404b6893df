package journal

import (
	"errors"
	"testing"
)

// TestSubmitPreparesAsync drives the asynchronous append with latency:
// the callback runs only from Tick, after the prepares are durable.
func TestSubmitPreparesAsync(t *testing.T) {
	for _, mode := range []HeaderMode{HeaderOrdered, HeaderDeferred} {
		s := newFormatted(t, 40, MemoryFaults{LatencyMin: 1, LatencyMax: 4})
		j := mustOpen(t, s)
		j.SetHeaderMode(mode)
		c := newChain(ConfigTest, 12, bodyVaried)
		for from := 1; from <= 12; from += 4 {
			done := false
			var got error
			j.SubmitPrepares(c.msgs[from:from+4], func(err error) { done, got = true, err })
			if done {
				t.Fatal("callback ran inline")
			}
			func() {
				defer func() {
					if recover() == nil {
						t.Fatal("second submit while in flight did not panic")
					}
				}()
				j.SubmitPrepares(c.msgs[from:from+1], func(error) {})
			}()
			ticks := 0
			for ; !done; ticks++ {
				s.Tick()
			}
			if got != nil || ticks < 2 {
				t.Fatalf("mode %d batch %d: %v after %d ticks", mode, from, got, ticks)
			}
			if h, ok := j.Header(uint64(from + 3)); !ok || h.Checksum != c.sums[from+3] {
				t.Fatalf("mode %d: header of op %d", mode, from+3)
			}
		}
		if err := j.Flush(); err != nil {
			t.Fatal(err)
		}
		r := mustOpen(t, s).Report()
		if r.OpMax != 12 || r.Count(ClassOK) != 13 {
			t.Fatalf("mode %d: opmax %d ok %d", mode, r.OpMax, r.Count(ClassOK))
		}
	}
}

func TestSubmitPreparesCrashReportsError(t *testing.T) {
	s := newFormatted(t, 41, MemoryFaults{LatencyMax: 2})
	j := mustOpen(t, s)
	c := newChain(ConfigTest, 3, bodyVaried)
	s.CrashAfterWrites(2)
	var got error
	done := false
	j.SubmitPrepares(c.msgs[1:4], func(err error) { done, got = true, err })
	for !done {
		s.Tick()
	}
	if !errors.Is(got, ErrCrashed) || !errors.Is(got, ErrIO) {
		t.Fatalf("got %v", got)
	}
}

// TestSubmitFlushAsync: in deferred mode a batch's redundant headers stay
// pending until SubmitFlush writes them; its callback runs only from Tick,
// and afterwards a crash that loses every unsynced write still finds every
// slot whole (ClassOK: header and prepare agree).
func TestSubmitFlushAsync(t *testing.T) {
	s := newFormatted(t, 42, MemoryFaults{LatencyMin: 1, LatencyMax: 3})
	j := mustOpen(t, s)
	if err := j.SetHeaderMode(HeaderDeferred); err != nil {
		t.Fatal(err)
	}
	c := newChain(ConfigTest, 4, bodyVaried)
	done := false
	j.SubmitPrepares(c.msgs[1:5], func(err error) {
		if err != nil {
			t.Fatal(err)
		}
		done = true
	})
	for !done {
		s.Tick()
	}
	if !j.HeadersPending() {
		t.Fatal("deferred batch left no pending header")
	}
	flushed := false
	var got error
	j.SubmitFlush(func(err error) { flushed, got = true, err })
	if flushed {
		t.Fatal("flush callback ran inline")
	}
	if !j.Appending() {
		t.Fatal("flush not in flight")
	}
	for !flushed {
		s.Tick()
	}
	if got != nil || j.HeadersPending() || j.Appending() {
		t.Fatalf("flush: err %v, pending %v, appending %v", got, j.HeadersPending(), j.Appending())
	}
	s.Crash(CrashLoseAll)
	r := mustOpen(t, s).Report()
	if r.OpMax != 4 || r.Count(ClassOK) != 5 {
		t.Fatalf("after the flush and a crash: opmax %d, %d slots ok, want 4 and 5", r.OpMax, r.Count(ClassOK))
	}
}

// TestSubmitFlushCrashReportsError: a header flush that hits a crashed
// storage reports the error through its callback.
func TestSubmitFlushCrashReportsError(t *testing.T) {
	s := newFormatted(t, 43, MemoryFaults{LatencyMax: 2})
	j := mustOpen(t, s)
	if err := j.SetHeaderMode(HeaderDeferred); err != nil {
		t.Fatal(err)
	}
	c := newChain(ConfigTest, 2, bodyVaried)
	done := false
	j.SubmitPrepares(c.msgs[1:3], func(error) { done = true })
	for !done {
		s.Tick()
	}
	s.CrashAfterWrites(0)
	var got error
	done = false
	j.SubmitFlush(func(err error) { done, got = true, err })
	for !done {
		s.Tick()
	}
	if !errors.Is(got, ErrIO) {
		t.Fatalf("flush on a crashed storage: %v, want ErrIO", got)
	}
}
