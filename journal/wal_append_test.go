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

// countingStorage counts the storage calls the journal makes.
type countingStorage struct {
	*MemoryStorage
	writes, durable, syncs int
}

func (c *countingStorage) Write(buf []byte, off uint64, cb func(error)) {
	c.writes++
	c.MemoryStorage.Write(buf, off, cb)
}

func (c *countingStorage) WriteDurable(buf []byte, off uint64, cb func(error)) {
	c.durable++
	c.MemoryStorage.WriteDurable(buf, off, cb)
}

func (c *countingStorage) Sync(cb func(error)) {
	c.syncs++
	c.MemoryStorage.Sync(cb)
}

// TestSubmitOneWriteStageIsOneDurableWrite: a stage of one write (one
// prepare and no header sector to carry, or a flush of one header sector)
// is one WriteDurable and no sync; a stage of several writes is writes and
// one sync. What the callbacks reported survives a crash that loses every
// unsynced write.
func TestSubmitOneWriteStageIsOneDurableWrite(t *testing.T) {
	s := newFormatted(t, 42, MemoryFaults{LatencyMin: 1, LatencyMax: 3})
	cs := &countingStorage{MemoryStorage: s}
	j := mustOpen(t, cs)
	if err := j.SetHeaderMode(HeaderDeferred); err != nil {
		t.Fatal(err)
	}
	c := newChain(ConfigTest, 4, bodyVaried)
	run := func(submit func(cb func(error))) {
		t.Helper()
		done := false
		submit(func(err error) {
			if err != nil {
				t.Fatal(err)
			}
			done = true
		})
		for i := 0; !done; i++ {
			if i > 100 {
				t.Fatal("stage never completed")
			}
			s.Tick()
		}
	}
	count := func(what string, writes, durable, syncs int) {
		t.Helper()
		if cs.writes != writes || cs.durable != durable || cs.syncs != syncs {
			t.Fatalf("%s: %d writes, %d durable writes, %d syncs; want %d, %d, %d", what, cs.writes, cs.durable, cs.syncs, writes, durable, syncs)
		}
		cs.writes, cs.durable, cs.syncs = 0, 0, 0
	}
	run(func(cb func(error)) { j.SubmitPrepares(c.msgs[1:2], cb) })
	count("one prepare", 0, 1, 0)
	run(j.SubmitFlush)
	count("one header sector", 0, 1, 0)
	run(func(cb func(error)) { j.SubmitPrepares(c.msgs[2:4], cb) })
	count("two prepares", 2, 0, 1)
	run(func(cb func(error)) { j.SubmitPrepares(c.msgs[4:5], cb) })
	count("one prepare carrying a header sector", 2, 0, 1)
	run(j.SubmitFlush)
	count("one header sector", 0, 1, 0)
	if _, dirty := s.UnsyncedOutside(0, 0); dirty {
		t.Fatal("sectors left unsynced after every stage completed")
	}
	s.Crash(CrashLoseAll)
	r := mustOpen(t, s).Report()
	if r.OpMax != 4 || r.Count(ClassOK) != 5 {
		t.Fatalf("after the crash: op_max %d, %d slots ok; want 4 and 5", r.OpMax, r.Count(ClassOK))
	}
}

// TestMemoryWriteDurableDurableOnlyOnCompletion: a WriteDurable is
// unsynced until its completion runs (a crash before it loses the bytes),
// durable after it, and makes no other write durable.
func TestMemoryWriteDurableDurableOnlyOnCompletion(t *testing.T) {
	buf := alignedBuffer(2 * SectorSize)
	for i := range buf {
		buf[i] = 0xab
	}
	s := NewMemoryStorage(16*SectorSize, 1, MemoryFaults{LatencyMin: 2, LatencyMax: 2})
	done := false
	s.WriteDurable(buf, 0, func(err error) { done = err == nil })
	s.Tick()
	if done || !s.Unsynced(0, 2*SectorSize) {
		t.Fatal("durable write completed or durable before its latency")
	}
	s.Crash(CrashLoseAll)
	if s.Data()[0] != 0 || s.Data()[SectorSize] != 0 {
		t.Fatal("a crash before the completion kept the durable write")
	}
	s.Write(buf[:SectorSize], 4*SectorSize, func(error) {})
	s.WriteDurable(buf, 0, func(err error) { done = err == nil })
	s.Tick()
	s.Tick()
	if !done || s.Unsynced(0, 2*SectorSize) || !s.Unsynced(4*SectorSize, SectorSize) {
		t.Fatalf("after the completion: done %v, durable sectors unsynced %v, plain write synced %v", done, s.Unsynced(0, 2*SectorSize), !s.Unsynced(4*SectorSize, SectorSize))
	}
	s.Crash(CrashLoseAll)
	if s.Data()[0] != 0xab || s.Data()[2*SectorSize-1] != 0xab || s.Data()[4*SectorSize] != 0 {
		t.Fatal("a crash after the completion lost the durable write or kept the plain one")
	}
}
