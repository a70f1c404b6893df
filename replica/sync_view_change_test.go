package replica

import (
	"testing"

	"github.com/chronon-db/chronon/wire"
)

// syncedBackupSetup builds the state of issue 11 (seen on real processes):
// 3 replicas with a 24-slot WAL and a checkpoint every 8 ops. Replica 2 is
// down while 0 and 1 commit more ops than the WAL holds. View 1 (primary 1)
// starts with the votes of 0 and 1, but 0 never gets its start_view and
// pauses: it keeps log_view 0 and every committed op. Replica 2 comes back,
// installs view 1's start_view (log_view 1, the view's log ending at the
// last committed op), finds the ops it lacks gone from the WAL and copies
// replica 1's checkpoint, which is below the last committed op. As soon as
// fail(replica 2) holds after the sync, replica 1 fails and 0 resumes. It
// returns the last op committed before view 1 and the synced checkpoint's
// op.
func syncedBackupSetup(t *testing.T, seed uint64, fail func(r2 *Replica) bool) (c *cluster, committed, synced uint64) {
	t.Helper()
	c = newCluster(t, seed, 3, 4, 10)
	for i, r := range c.replicas {
		r.cfg.CheckpointInterval = 8
		c.journals[i].window = 24
	}
	c.run(50_000)
	c.down[2] = true
	cut := func(i int) func(p *packet, h *wire.Header) bool {
		return func(p *packet, h *wire.Header) bool { return p.toReplica == i || p.from == i }
	}
	c.dropPackets(cut(2))
	c.moreRequests(40)
	for s := 0; s < 200_000 && !c.clientsDone(); s++ {
		c.step()
	}
	for range 50 {
		c.step()
	}
	committed = c.replicas[0].CommitMin()
	if !c.clientsDone() || c.replicas[1].CommitMin() != committed || committed < c.replicas[2].Op()+40 {
		t.Fatalf("setup lag: %s", c.describe())
	}
	// View 1 (primary 1) with the votes of 0 and 1; 0 never gets start_view.
	noStartViewTo0 := func(p *packet, h *wire.Header) bool {
		return p.toReplica == 0 && h.Command == wire.CommandStartView
	}
	c.replicas[1].startViewChange(1)
	for s := 0; s < 5_000 && !(c.replicas[1].Status() == StatusNormal && c.replicas[1].View() == 1); s++ {
		c.step()
		c.dropPackets(noStartViewTo0)
	}
	if c.replicas[1].Status() != StatusNormal || c.replicas[0].LogView() != 0 || c.replicas[0].View() != 1 {
		t.Fatalf("setup view 1: %s", c.describe())
	}
	c.down[0] = true
	c.dropPackets(cut(0))
	// Replica 2 comes back, installs view 1 and state-syncs.
	c.down[2] = false
	r2 := c.replicas[2]
	for s := 0; s < 20_000 && !(r2.Counters.SyncsDone > 0 && fail(r2)); s++ {
		c.step()
		c.dropPackets(cut(0))
	}
	if r2.Counters.SyncsDone == 0 || !fail(r2) || r2.LogView() != 1 || r2.Status() != StatusNormal {
		t.Fatalf("setup sync: %s", c.describe())
	}
	synced = c.journals[2].checkpoints[len(c.journals[2].checkpoints)-1].op
	t.Logf("replica 2 synced to checkpoint op %d in view %d/%d (log head recorded %d), now at op %d knowing headers up to %d; ops up to %d committed before view 1",
		synced, r2.View(), r2.LogView(), c.journals[2].logOp, r2.Op(), r2.logOp, committed)
	// Replica 1 fails for good; replica 0 resumes.
	c.down[1] = true
	c.dropPackets(cut(1))
	c.down[0] = false
	return c, committed, synced
}

// TestNewPrimaryRefusesALogBelowTheCommitNumber: the new primary's own
// guard against the vote of issue 11, should any replica (another
// version, a path not covered by the vote's check) still send it. In the
// state of issue 11 (sim/testdata/scenarios/sync_then_view_change.txt),
// replica 0 (primary of view 3, log_view 0, every committed op) receives
// the do_view_change
// replica 2 sent before the fix: log_view 1, its log ending at the synced
// checkpoint, commit number above it. That log ranks highest, but
// installing it would truncate 0's committed ops: 0 must not install it
// (it waits for other votes or the next view).
func TestNewPrimaryRefusesALogBelowTheCommitNumber(t *testing.T) {
	c, committed, _ := syncedBackupSetup(t, 41, func(*Replica) bool { return true })
	r0, r2 := c.replicas[0], c.replicas[2]
	if r2.logOp >= committed || r2.LogView() != 1 || r0.LogView() != 0 || r0.Op() != committed {
		t.Fatalf("setup: %s", c.describe())
	}
	h := r2.header(wire.CommandDoViewChange)
	h.View = 3
	h.LogView, h.Op, h.Commit, h.OpMin = r2.LogView(), r2.logOp, r2.CommitMax(), r2.Op()
	body := r2.log.encode(nil, r2.logOp, r2.viewChangeHeadersMax())
	h.Size = uint32(wire.HeaderSize + len(body))
	msg := make([]byte, h.Size)
	copy(msg[wire.HeaderSize:], body)
	wire.Seal(&h, msg)
	t.Logf("do_view_change from replica 2: log_view %d op %d commit %d", h.LogView, h.Op, h.Commit)
	func() {
		defer func() {
			if x := recover(); x != nil {
				t.Fatalf("panic: %v\n%s", x, c.describe())
			}
		}()
		c.deliverToReplica(0, msg)
	}()
	if r0.View() != 3 || !r0.vc.dvcs[0].received || !r0.vc.dvcs[2].received {
		t.Fatalf("replica 0 did not count both votes: %s", c.describe())
	}
	if r0.vc.installing || r0.Op() < committed || r0.Counters.InstallsRefused != 1 {
		t.Fatalf("replica 0 installing %v at op %d (committed %d), refused %d: %s",
			r0.vc.installing, r0.Op(), committed, r0.Counters.InstallsRefused, c.describe())
	}
}
