package replica

import (
	"testing"

	"github.com/chronon-db/chronon/wire"
)

// TestRejoinerRestartedWithOnlyAView (liveness, found in review): a
// rejoiner that crashed after persisting a view (a view change it joined,
// vote withheld) but before holding any op restarts from a superblock with
// view v > 0, log_view 0 and nothing else. It must not end up normal in v
// with log_view 0 (it would drop v's start_view and never ask for the ops
// it lacks); it must rejoin (VOPR --replicas 5 --seed 502 before the fix).
func TestRejoinerRestartedWithOnlyAView(t *testing.T) {
	c := newCluster(t, 34, 3, 4, 10)
	c.run(50_000)
	c.net.isolated = 0
	for s := 0; s < 10_000 && !(c.replicas[1].Status() == StatusNormal && c.replicas[1].View() > 0); s++ {
		c.step()
	}
	c.net.isolated = -1
	c.run(50_000)
	v := c.replicas[1].View()
	// Replica 2's replacement file, after a crash that left only the view
	// in its superblock: what Recover does with it.
	old := c.replicas[2]
	pool, _ := wire.NewPool(old.cfg.Limits.MessagesMax(), old.cfg.Limits.MessageSizeMax)
	j := &memJournal{rng: c.rng, now: &c.net.now, written: map[uint64]wire.Uint128{}, stored: map[uint64][]byte{}, view: v}
	sm := newCounterMachine()
	r, err := New(old.cfg, pool, &replicaBus{net: c.net, from: 2}, j, testClock{&c.net.now}, sm)
	if err != nil {
		t.Fatal(err)
	}
	r.restoreView(v, 0)
	// info.Restarted is false: no startAfterRestart.
	if err := r.startRejoining(); err != nil {
		t.Fatal(err)
	}
	c.replicas[2], c.pools[2], c.journals[2], c.machines[2] = r, pool, j, sm
	for range 2_000 {
		c.step()
	}
	t.Logf("view %d: %s", v, c.describe())
	if r.Status() == StatusNormal && r.View() == v && r.LogView() == 0 {
		t.Errorf("replica 2 is normal in view %d with log_view 0 (it never installed view %d's start_view)", v, v)
	}
	if r.Rejoining() {
		t.Errorf("replica 2 still rejoining at op %d commit %d", r.Op(), r.CommitMin())
	}
}

// TestSyncOfferBelowOpIsRefused (safety, found in review): an offer whose
// checkpoint op is above the backup's commit number but at or below its op
// (an offer answering an old request_prepare while the backup caught up
// from others) must be refused: taking it would drop prepares the backup
// acknowledged, and a later view change could lose ops committed with its
// acks.
func TestSyncOfferBelowOpIsRefused(t *testing.T) {
	c := newCluster(t, 35, 3, 4, 200)
	for _, r := range c.replicas {
		r.cfg.CheckpointInterval = 8
	}
	c.net.isolated = 2 // commits need replica 1's acks
	p, x := c.replicas[0], c.replicas[1]
	offered := false
	for s := 0; s < 50_000 && !offered; s++ {
		c.step()
		if p.cp.op > 16 && x.CommitMin() < p.cp.op && x.Op() > p.cp.op+2 && x.Status() == StatusNormal {
			p.offerCheckpoint(1)
			offered = true
		}
	}
	if !offered {
		t.Fatalf("setup: no moment to offer: %s", c.describe())
	}
	before := x.Counters.SyncsDone
	acked := uint64(0)
	for s := 0; s < 1_000 && x.Counters.SyncsDone == before; s++ {
		acked = max(acked, x.Op())
		c.step()
	}
	if x.Counters.SyncsDone == before {
		return // refused: the offer is not ahead of the backup's log
	}
	committed := p.CommitMin()
	t.Logf("replica 1 synced to op %d after acknowledging up to op %d; the primary committed up to %d", x.Op(), acked, committed)
	if x.Op() >= acked {
		return
	}
	// The primary fails for good; replica 2 reconnects.
	c.down[0] = true
	c.net.isolated = -1
	for s := 0; s < 20_000; s++ {
		c.step()
		for _, i := range []int{1, 2} {
			if r := c.replicas[i]; r.Status() == StatusNormal && r.View() > 0 && r.IsPrimary() {
				if r.Op() < committed {
					t.Fatalf("view %d started by replica %d with log up to op %d; the old primary committed up to %d: %s", r.View(), i, r.Op(), committed, c.describe())
				}
				return
			}
		}
	}
}
