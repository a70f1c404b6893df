package replica

import "testing"

// TestStateSyncAfterFallingBehindTheWAL cuts a backup off while the others
// run on for more ops than the WAL keeps: when it is back, the primary no
// longer has the ops it lacks, offers its checkpoint, and the backup copies
// it and catches up.
func TestStateSyncAfterFallingBehindTheWAL(t *testing.T) {
	for seed := uint64(1); seed <= 5; seed++ {
		c := newCluster(t, seed, 3, 6, 60)
		for i, r := range c.replicas {
			r.cfg.CheckpointInterval = 8
			c.journals[i].window = 24
		}
		for range 100 {
			c.step()
		}
		c.net.isolated = 2
		for range 2000 {
			c.step()
			if c.replicas[0].CommitMin() > c.replicas[2].Op()+60 {
				break
			}
		}
		if gap := c.replicas[0].CommitMin() - c.replicas[2].Op(); gap < 40 {
			t.Fatalf("seed %d: backup only %d ops behind; the test needs more than the WAL", seed, gap)
		}
		c.net.isolated = -1
		c.run(200_000)
		c.checkConverged()
		if c.replicas[2].Counters.SyncsDone == 0 {
			t.Fatalf("seed %d: caught up without state sync: %+v", seed, c.replicas[2].Counters)
		}
	}
}
