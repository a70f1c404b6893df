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
