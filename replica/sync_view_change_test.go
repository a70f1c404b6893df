package replica

import (
	"testing"

	"github.com/chronon-db/chronon/wire"
)

// TestNewPrimaryRefusesALogBelowTheCommitNumber: the new primary's own
// guard against the vote of issue 11, should any replica (another
// version, a path not covered by the vote's check) still send it. In the
// state of issue 11 (sim/testdata/scenarios/sync_then_view_change.txt), a
// backup that state-synced to a checkpoint below the last committed op
// installed view 1's start_view: its do_view_change said log_view 1, its
// log ending at the synced checkpoint, a commit number above it. Replica 0
// (primary of view 3, log_view 0, every committed op) receives that vote:
// its log ranks highest, but installing it would truncate 0's committed
// ops, so 0 must not install it (it waits for other votes or the next
// view).
func TestNewPrimaryRefusesALogBelowTheCommitNumber(t *testing.T) {
	run := newOne(t, 1, 0, nil)
	run.requests(2, 5)
	stored := run.j.stored
	committed := uint64(len(stored))
	// Replica 0 of 3 restarts holding every committed op, in log_view 0.
	o := newOne(t, 3, 0, nil)
	r0 := o.r
	rec := Recovered{LogOp: committed, CommitMax: committed, Started: true, OpMax: committed, Journal: &memRecovery{stored: stored, wcfg: r0.wcfg}}
	if _, err := r0.Recover(&rec); err != nil {
		t.Fatal(err)
	}
	if r0.Op() != committed || r0.CommitMin() != committed || r0.LogView() != 0 {
		t.Fatalf("setup: op %d commit %d log_view %d, want %d, %d, 0", r0.Op(), r0.CommitMin(), r0.LogView(), committed, committed)
	}
	// Replica 2's vote: log_view 1, its log ending at the synced
	// checkpoint, below the commit number it announces.
	synced := committed - 4
	h := wire.Header{Cluster: o.cfg.Cluster, Protocol: wire.ProtocolVersion, Command: wire.CommandDoViewChange, Replica: 2,
		View: 3, LogView: 1, Op: synced, Commit: committed, OpMin: synced}
	var body []byte
	for op := uint64(1); op <= synced; op++ {
		body = append(body, stored[op][:wire.HeaderSize]...)
	}
	h.Size = uint32(wire.HeaderSize + len(body))
	msg := make([]byte, h.Size)
	copy(msg[wire.HeaderSize:], body)
	wire.Seal(&h, msg)
	o.deliver(msg)
	if r0.View() != 3 || !r0.vc.dvcs[0].received || !r0.vc.dvcs[2].received {
		t.Fatalf("replica 0 did not count both votes: view %d status %d votes %v %v", r0.View(), r0.Status(), r0.vc.dvcs[0].received, r0.vc.dvcs[2].received)
	}
	if r0.vc.installing || r0.Op() < committed || r0.Counters.InstallsRefused != 1 {
		t.Fatalf("replica 0 installing %v at op %d (committed %d), refused %d", r0.vc.installing, r0.Op(), committed, r0.Counters.InstallsRefused)
	}
}
