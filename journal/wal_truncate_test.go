package journal

import "testing"

// TestTruncateSurvivesReopen writes ops, truncates the tail, crashes with
// everything written kept, and checks recovery does not bring the tail back.
func TestTruncateSurvivesReopen(t *testing.T) {
	for _, mode := range []HeaderMode{HeaderOrdered, HeaderDeferred} {
		s := newFormatted(t, 3, MemoryFaults{})
		j := mustOpen(t, s)
		if err := j.SetHeaderMode(mode); err != nil {
			t.Fatal(err)
		}
		c := newChain(ConfigTest, 20, bodyVaried)
		for op := 1; op <= 20; op++ {
			if err := j.WritePrepare(c.msgs[op]); err != nil {
				t.Fatal(err)
			}
		}
		if err := j.Truncate(12); err != nil {
			t.Fatal(err)
		}
		if _, ok := j.Header(13); ok {
			t.Fatalf("mode %d: op 13 still known after truncate", mode)
		}
		if _, ok := j.Header(12); !ok {
			t.Fatalf("mode %d: op 12 lost by truncate", mode)
		}
		s.Crash(CrashKeepAll)
		j = mustOpen(t, s)
		r := j.Report()
		if r.OpMax != 12 || len(r.Repair) != 0 || len(r.Faulty) != 0 {
			t.Fatalf("mode %d: after reopen op_max %d repair %v faulty %v", mode, r.OpMax, r.Repair, r.Faulty)
		}
		if _, err := j.ReadPrepare(12, c.sums[12]); err != nil {
			t.Fatalf("mode %d: op 12: %v", mode, err)
		}
	}
}

// TestTruncateCrashAtEveryWrite crashes a truncation at each of its writes
// and syncs, in every crash mode, and reopens: either the truncation never
// took effect (its record in the superblock is not durable) or no op above
// the kept one is ever trusted again — never a mix in which a discarded op
// survives next to the truncation. Ops at or below it always survive.
func TestTruncateCrashAtEveryWrite(t *testing.T) {
	const ops, keep = 20, 12
	c := newChain(ConfigTest, ops, bodyVaried)
	for _, mode := range []CrashMode{CrashLoseAll, CrashKeepAll, CrashRandom} {
		for crashAt := 0; ; crashAt++ {
			s := newFormatted(t, uint64(crashAt)+1, MemoryFaults{})
			j := mustOpen(t, s)
			c.writeTo(t, j)
			s.CrashAfterWrites(crashAt)
			err := j.Truncate(keep)
			s.Crash(mode)
			j = mustOpen(t, s)
			if j.Superblock().VSR.Truncating {
				t.Fatalf("mode %d crash at %d: open left the truncation unfinished", mode, crashAt)
			}
			above := 0
			for op := keep + 1; op <= ops; op++ {
				if _, ok := j.Header(uint64(op)); ok {
					above++
				}
			}
			if above != 0 && above != ops-keep {
				t.Fatalf("mode %d crash at %d: %d of the %d discarded ops came back", mode, crashAt, above, ops-keep)
			}
			for op := 1; op <= keep; op++ {
				if _, err := j.ReadPrepare(uint64(op), c.sums[op]); err != nil {
					t.Fatalf("mode %d crash at %d: kept op %d: %v", mode, crashAt, op, err)
				}
			}
			if err == nil {
				if above != 0 {
					t.Fatalf("mode %d: a completed truncation came back", mode)
				}
				break // no write left to crash at
			}
		}
	}
}
