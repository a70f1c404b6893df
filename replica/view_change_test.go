package replica

import (
	"testing"
)

// Tests of VR Revisited §4.2 (view changes) on the in-memory cluster.

// TestViewChangeAfterPrimaryCrash crashes the primary for good: the backups
// elect a new primary, clients find it, every request is executed once.
func TestViewChangeAfterPrimaryCrash(t *testing.T) {
	for seed := uint64(1); seed <= 10; seed++ {
		c := newCluster(t, seed, 3, 6, 30)
		c.net.lossPct, c.net.dupPct = 5, 5
		for range 150 {
			c.step()
		}
		c.down[0] = true
		c.run(200_000)
		live := c.replicas[1]
		if live.View() == 0 || live.Status() != StatusNormal {
			t.Fatalf("seed %d: no new view: view %d status %d", seed, live.View(), live.Status())
		}
		checkLiveConverged(t, c, seed)
	}
}

// TestViewChangeIsolatedPrimaryStepsDown partitions the primary away from
// the backups while clients still reach it, heals, and checks that the old
// primary joins the new view, drops what it prepared alone, and that the
// replicas converge with every request executed exactly once.
func TestViewChangeIsolatedPrimaryStepsDown(t *testing.T) {
	for seed := uint64(20); seed < 30; seed++ {
		c := newCluster(t, seed, 3, 6, 30)
		for range 100 {
			c.step()
		}
		c.net.isolated = 0
		for range 400 {
			c.step()
		}
		c.net.isolated = -1
		c.run(200_000)
		c.checkConverged()
		if c.replicas[0].View() == 0 {
			t.Fatalf("seed %d: old primary still in view 0", seed)
		}
	}
}

// TestViewChangeRepeatedCrashes crashes and restarts random replicas,
// primaries included, under a lossy network, one at a time.
func TestViewChangeRepeatedCrashes(t *testing.T) {
	seeds := 20
	if testing.Short() {
		seeds = 5
	}
	for seed := uint64(100); seed < uint64(100+seeds); seed++ {
		c := newCluster(t, seed, 3, 6, 40)
		c.net.lossPct, c.net.dupPct, c.net.delayMax = 5, 5, 3
		for round := 0; round < 4; round++ {
			for range 80 + c.rng.IntN(120) {
				c.step()
			}
			victim := c.rng.IntN(3)
			c.down[victim] = true
			for range 50 + c.rng.IntN(200) {
				c.step()
			}
			c.down[victim] = false
			if err := c.restartReplica(victim, c.journals[victim].commitMax); err != nil {
				t.Fatalf("seed %d: restart %d: %v", seed, victim, err)
			}
		}
		c.run(300_000)
		c.checkConverged()
	}
}

// checkLiveConverged is checkConverged over the replicas that are up.
func checkLiveConverged(t *testing.T, c *cluster, seed uint64) {
	t.Helper()
	var ref *Replica
	for i, r := range c.replicas {
		if c.down[i] {
			continue
		}
		if ref == nil {
			ref = r
			continue
		}
		if r.CommitMin() != ref.CommitMin() || r.CommitChecksum() != ref.CommitChecksum() || r.StateDigest() != ref.StateDigest() {
			t.Fatalf("seed %d: replica %d differs from replica %d", seed, i, ref.Index())
		}
	}
	for i, m := range c.machines {
		if c.down[i] {
			continue
		}
		for key, n := range m.applied {
			if n != 1 {
				t.Fatalf("seed %d: replica %d applied client %d request %d %d times", seed, i, key[0], key[1], n)
			}
		}
		for _, cl := range c.clients {
			if got := m.totals[cl.id]; got != uint64(cl.count) {
				t.Fatalf("seed %d: replica %d total of client %v is %d, want %d", seed, i, cl.id, got, cl.count)
			}
		}
	}
}
