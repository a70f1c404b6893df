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
	run := newOne(t, 1, 0, nil)
	run.requests(2, 5)
	// Backup 1 of 3 prepares the ops of view 0 and acknowledges them; the
	// commit number they carry stays below its op.
	o := newOne(t, 3, 1, func(cfg *Config) { cfg.CheckpointSizeMax = 1 << 20 })
	x := o.r
	for op := uint64(1); op <= uint64(len(run.j.stored)); op++ {
		o.deliver(run.j.stored[op])
		o.complete()
	}
	if x.Status() != StatusNormal || x.CommitMin() >= x.Op() || x.Op() != uint64(len(run.j.stored)) {
		t.Fatalf("setup: status %d op %d commit %d", x.Status(), x.Op(), x.CommitMin())
	}
	offer := func(op uint64) {
		h := wire.Header{Cluster: o.cfg.Cluster, Protocol: wire.ProtocolVersion, Command: wire.CommandSyncCheckpoint,
			Replica: 0, Op: op, Parent: wire.Uint128{Lo: 1}, Context: wire.Uint128{Lo: op}, Commit: 4096, Size: wire.HeaderSize}
		msg := make([]byte, h.Size)
		wire.Seal(&h, msg)
		o.deliver(msg)
	}
	for op := x.CommitMin() + 1; op <= x.Op(); op++ {
		offer(op)
		if x.sync.active || x.Counters.SyncsStarted != 0 {
			t.Fatalf("offer of op %d taken at op %d, commit %d: it would drop acknowledged prepares", op, x.Op(), x.CommitMin())
		}
	}
	offer(x.Op() + 1)
	if !x.sync.active {
		t.Fatal("an offer ahead of the backup's log was refused")
	}
}
