package replica

import (
	"testing"
)

// Tests of VR Revisited §4.1 (normal operation) on the in-memory cluster.

func TestNormalPathSingleReplica(t *testing.T) {
	c := newCluster(t, 1, 1, 8, 20)
	c.run(5_000)
	c.checkConverged()
	if got := c.primary().CommitMin(); got == 0 {
		t.Fatal("nothing committed")
	}
}

func TestNormalPathThreeReplicas(t *testing.T) {
	c := newCluster(t, 2, 3, 16, 50)
	c.run(20_000)
	c.checkConverged()
	p := c.primary()
	want := uint64(16 * 51) // registers + adds
	if p.Counters.RequestsBatched != want {
		t.Fatalf("batched %d requests, want %d", p.Counters.RequestsBatched, want)
	}
	if p.Counters.PreparesSent >= p.Counters.RequestsBatched {
		t.Fatalf("no batching: %d prepares for %d requests", p.Counters.PreparesSent, p.Counters.RequestsBatched)
	}
	for i, r := range c.replicas {
		if r.Counters.RequestsApplied != 16*50 {
			t.Fatalf("replica %d applied %d requests, want %d", i, r.Counters.RequestsApplied, 16*50)
		}
	}
}

func TestNormalPathFiveReplicas(t *testing.T) {
	c := newCluster(t, 3, 5, 8, 30)
	c.run(20_000)
	c.checkConverged()
}

// TestNormalPathLossyNetwork drops and duplicates messages: clients retry
// the same request, the primary resends prepares, and every request is
// still executed exactly once on every replica.
func TestNormalPathLossyNetwork(t *testing.T) {
	seeds := 20
	if testing.Short() {
		seeds = 5
	}
	for seed := uint64(100); seed < uint64(100+seeds); seed++ {
		c := newCluster(t, seed, 3, 8, 25)
		c.net.lossPct, c.net.dupPct, c.net.delayMax = 10, 10, 4
		c.run(200_000)
		c.checkConverged()
		p := c.primary()
		if p.Counters.PreparesResent == 0 {
			t.Errorf("seed %d: no prepare was resent despite 10%% loss", seed)
		}
	}
}

// TestDeterministic runs the same seed twice and expects identical results.
func TestDeterministic(t *testing.T) {
	run := func() (uint64, [2]uint64, uint64) {
		c := newCluster(t, 42, 3, 8, 20)
		c.net.lossPct, c.net.dupPct = 5, 5
		c.run(100_000)
		d := c.primary().StateDigest()
		return c.net.now, [2]uint64{d.Lo, d.Hi}, c.primary().Counters.PreparesSent
	}
	a1, b1, c1 := run()
	a2, b2, c2 := run()
	if a1 != a2 || b1 != b2 || c1 != c2 {
		t.Fatalf("same seed, different runs: (%d %v %d) vs (%d %v %d)", a1, b1, c1, a2, b2, c2)
	}
}
