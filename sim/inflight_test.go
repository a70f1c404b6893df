package sim

import (
	"bytes"
	"testing"

	"github.com/chronon-db/chronon/journal"
	"github.com/chronon-db/chronon/wire"
)

// TestCrashResolvesWritesInFlight: a replica crashing while a prepare write
// is in flight (its completion not yet handed to the replica) loses it with
// CrashLoseAll — the slot and the redundant header entry hold what they
// held before — and keeps it with CrashKeepAll; either way the replica
// restarts and the cluster converges.
func TestCrashResolvesWritesInFlight(t *testing.T) {
	for _, mode := range []journal.CrashMode{journal.CrashLoseAll, journal.CrashKeepAll} {
		s, err := New(Options{Seed: 1, Replicas: 3, Clients: 3, NoFaults: true})
		if err != nil {
			t.Fatal(err)
		}
		s.sc.storageLatencyMax = 20 // long write windows
		crashed := false
		for tick := 0; tick < 3000 && !crashed && s.err == nil; tick++ {
			s.Step()
			p, _ := s.primary()
			for _, h := range s.hosts {
				// A backup (a primary that loses its first prepares is
				// TestSeedsPowerLossRegressions' seed 1491).
				if int(h.index) == p || !h.up || len(h.inflight) == 0 || h.inflight[0].old == nil {
					continue
				}
				w := h.inflight[0]
				h.crash(mode, "test")
				data := h.storage.Data()
				var hd wire.Header
				hd.Decode(data[w.at:])
				if mode == journal.CrashLoseAll {
					if !bytes.Equal(data[w.at:w.at+uint64(len(w.old))], w.old) || !bytes.Equal(data[w.header:w.header+wire.HeaderSize], w.oldHeader) {
						t.Fatalf("lose: op %d still on disk after the crash", w.op)
					}
					if s.stats.Faults[FaultWriteLostInFlight] == 0 {
						t.Fatal("lose: write_lost_in_flight not counted")
					}
				} else if hd.Checksum != w.checksum {
					t.Fatalf("keep: slot holds %x, want op %d's prepare %x", hd.Checksum.Lo, w.op, w.checksum.Lo)
				}
				s.restart(h)
				crashed = true
				break
			}
		}
		if !crashed {
			t.Fatalf("mode %d: no prepare write was ever in flight", mode)
		}
		for i := 0; i < 300 && s.err == nil; i++ {
			s.Step()
		}
		if s.err == nil {
			s.liveness()
		}
		if s.err != nil {
			t.Fatalf("mode %d: %v", mode, s.err)
		}
	}
}
