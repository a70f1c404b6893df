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
