package replica

import (
	"testing"

	"github.com/chronon-db/chronon/wire"
)

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
