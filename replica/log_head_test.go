package replica

import (
	"testing"

	"github.com/chronon-db/chronon/wire"
)

// TestLogViewPersistedWithoutItsLog (safety, found in review): a lagging
// backup installs start_view(v) and makes log_view = v durable although it
// holds only a short prefix of v's log. It crashes before repairing. Had it
// voted after the restart with (log_view v, short op), it would beat a
// replica holding every committed op but with an older log_view, and the
// next view would start without committed ops. The log head is now
// recorded with log_view (VSRState.LogOp); a journal ending below it makes
// the replica withhold its vote.
func TestLogViewPersistedWithoutItsLog(t *testing.T) {
	c := newCluster(t, 41, 3, 4, 10)
	// Replica 2 is down while 0 (primary of view 0) and 1 commit more.
	_, committed := lagBackup2(t, c)
	// View change to view 1 (primary 1); replica 0 never gets start_view(1).
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
	// Replica 2 comes back, learns view 1, installs its start_view and
	// crashes before repairing the ops it lacks.
	c.down[2] = false
	crashed := false
	for s := 0; s < 5_000; s++ {
		c.step()
		c.dropPackets(noStartViewTo0)
		r2 := c.replicas[2]
		if r2.View() == 1 && r2.LogView() == 1 && r2.Status() == StatusNormal {
			t.Logf("replica 2 installed view 1 at op %d (view 1 log up to %d), durable log_view %d; crash", r2.Op(), committed, c.journals[2].logView)
			if err := c.restartReplica(2, c.journals[2].commitMax); err != nil {
				t.Fatal(err)
			}
			crashed = true
			break
		}
	}
	if !crashed || c.replicas[2].Op() >= committed {
		t.Fatalf("setup crash: %s", c.describe())
	}
	// Replica 1, the primary of view 1, fails for good.
	c.down[1] = true
	c.dropPackets(func(p *packet, h *wire.Header) bool { return p.toReplica == 1 || p.from == 1 })
	t.Logf("before the next view: %s", c.describe())
	defer func() {
		if x := recover(); x != nil {
			t.Fatalf("panic: %v\n%s", x, c.describe())
		}
	}()
	for s := 0; s < 20_000; s++ {
		c.step()
		for _, i := range []int{0, 2} {
			r := c.replicas[i]
			if r.Status() == StatusNormal && r.View() > 1 && r.IsPrimary() {
				if r.Op() < committed {
					t.Fatalf("view %d started by replica %d with log up to op %d; ops %d..%d were committed in view 0: %s",
						r.View(), i, r.Op(), r.Op()+1, committed, c.describe())
				}
				return
			}
		}
	}
	t.Logf("no view started: %s", c.describe())
}

// restartLikeRecover restarts replica i as Recover does: replay up
// to the recorded commit number, load the following journaled ops as
// prepared while they fit, and withhold votes when the journal holds more
// than was loaded (r.Op() < OpMax).
func (c *cluster) restartLikeRecover(t *testing.T, i int, commitMax uint64) {
	t.Helper()
	// As Recover: the journal's prepares carry their primary's
	// commit number, which beats the recorded one.
	for _, data := range c.journals[i].stored {
		var h wire.Header
		h.Decode(data)
		commitMax = max(commitMax, h.Commit)
	}
	if err := c.restartReplica(i, commitMax); err != nil {
		t.Fatal(err)
	}
	r, j := c.replicas[i], c.journals[i]
	var opMax uint64
	for op := range j.stored {
		opMax = max(opMax, op)
	}
	for op := r.Op() + 1; op <= opMax; op++ {
		data, ok := j.stored[op]
		if !ok {
			break
		}
		m, _ := c.pools[i].Get()
		copy(m.Buffer, data)
		var h wire.Header
		if err := wire.DecodeHeader(m.Buffer, &h, &r.wcfg); err != nil {
			t.Fatal(err)
		}
		err := r.replayPrepared(m, &h)
		m.Unref()
		if err != nil {
			t.Fatalf("replica %d: op %d beyond what its prepare ring holds: %v", i, op, err)
		}
	}
	// Intact ops it had no room to load do not make it withhold (the
	// journal's own damage would; restartReplica checks the log head).
}

// TestClusterRestartWithLaggingCommitRecord (safety and liveness, found in
// review): the node records commit_max every 100 ms; after a cluster-wide
// power loss under load every replica journals more ops beyond that record
// than its prepare ring can load. Withholding every vote deadlocked the
// cluster; voting with the loaded prefix only started a view without ops
// committed before the loss. Recovery now takes the commit number from the
// journal's prepares (each carries its primary's), so only a pipeline of
// ops remains to load, and the view starts with every committed op.
func TestClusterRestartWithLaggingCommitRecord(t *testing.T) {
	c := newCluster(t, 52, 3, 4, 20)
	c.run(50_000)
	last := c.replicas[0].CommitMin()
	ring := uint64(2 * c.cfg.Limits.PipelinePrepareMax)
	if last <= ring+1 {
		t.Fatalf("setup: only %d ops", last)
	}
	recorded := last - ring - 1 // the last RecordVSR, 100 ms before the power loss
	for i := range c.replicas {
		c.restartLikeRecover(t, i, recorded)
	}
	c.net.packets = nil
	withholding := c.withholding()
	t.Logf("after the restart: %d of 3 replicas withhold their votes", withholding)
	if i := c.primaryAbove(0, 30_000, nil); i >= 0 {
		if r := c.replicas[i]; r.Op() < last {
			t.Fatalf("view %d started with its log ending at op %d; ops up to %d were committed before the power loss: %s", r.View(), r.Op(), last, c.describe())
		}
		return
	}
	t.Fatalf("no view started in 30000 ticks after a cluster-wide restart with intact journals (%d replicas withholding): %s", withholding, c.describe())
}

// TestNewPrimaryTruncatesAckedOpsBelowTheWindow (safety, found in review):
// a primary-elect whose commit_min is further behind the chosen log's head
// than the do_view_change headers reach truncates every op above its
// commit_min in installLog, durably, including ops it acknowledged. If it
// crashes before finishing the install, its journal ends below the log
// head it recorded with its vote, so it withholds its vote after the
// restart instead of voting with less than it acknowledged.
func TestNewPrimaryTruncatesAckedOpsBelowTheWindow(t *testing.T) {
	c := newCluster(t, 53, 3, 4, 10)
	c.run(50_000)
	var acked uint64 // highest op replica 1 sent prepare_ok for
	watch := func() {
		for _, p := range c.net.packets {
			if p.from == 1 && p.toReplica >= 0 {
				var h wire.Header
				h.Decode(p.data)
				if h.Command == wire.CommandPrepareOK {
					acked = max(acked, h.Op)
				}
			}
		}
	}
	// More requests; replica 1 is paused as soon as it has acknowledged
	// ops whose commit it has not learned.
	c.moreRequests(40)
	r1 := c.replicas[1]
	for s := 0; s < 10_000 && !(acked > r1.CommitMin() && r1.Op() > r1.CommitMin()); s++ {
		c.step()
		watch()
	}
	if acked <= r1.CommitMin() {
		t.Fatalf("setup: %s", c.describe())
	}
	c.down[1] = true
	c.dropPackets(func(p *packet, h *wire.Header) bool { return p.toReplica == 1 })
	t.Logf("replica 1 paused: op %d, commit %d, acknowledged up to %d", r1.Op(), r1.CommitMin(), acked)
	for s := 0; s < 100_000 && !c.clientsDone(); s++ {
		c.step()
	}
	if c.replicas[0].CommitMin() < r1.Op()+uint64(c.replicas[0].viewChangeHeadersMax())+2 {
		t.Fatalf("setup: the others did not get far enough ahead: %s", c.describe())
	}
	// Replica 1 comes back and, as primary of view 1, installs the log of
	// the others; it crashes right after installLog.
	c.down[1] = false
	r1.startViewChange(1)
	for s := 0; s < 5_000; s++ {
		c.step()
		watch()
		if r1.vc.installing && r1.Op() < acked {
			t.Logf("replica 1 installing view 1: op %d (journal holds up to %d) after acknowledging op %d; crash", r1.Op(), len(c.journals[1].stored), acked)
			if err := c.restartReplica(1, c.journals[1].commitMax); err != nil {
				t.Fatal(err)
			}
			r := c.replicas[1]
			var opMax uint64
			for op := range c.journals[1].stored {
				opMax = max(opMax, op)
			}
			if r.Op() < acked && r.Op() >= opMax && !r.Rejoining() {
				t.Fatalf("after the restart replica 1 votes with op %d (its journal looks whole: op_max %d) although it acknowledged op %d", r.Op(), opMax, acked)
			}
			return
		}
		if r1.Status() == StatusNormal {
			break
		}
	}
	t.Logf("replica 1 never truncated acknowledged ops: %s", c.describe())
}

// lagBackup2 runs cluster c (seed 41, 3 replicas) with replica 2 down while
// replicas 0 and 1 commit more, and returns the commit number before and
// after.
func lagBackup2(t *testing.T, c *cluster) (base, committed uint64) {
	t.Helper()
	c.run(50_000)
	base = c.replicas[2].CommitMin()
	c.down[2] = true
	c.dropPackets(func(p *packet, h *wire.Header) bool { return p.toReplica == 2 || p.from == 2 })
	c.moreRequests(10)
	for s := 0; s < 100_000 && !c.clientsDone(); s++ {
		c.step()
	}
	for range 50 {
		c.step()
	}
	committed = c.replicas[0].CommitMin()
	if !c.clientsDone() || committed <= base || c.replicas[1].CommitMin() != committed {
		t.Fatalf("setup: %s", c.describe())
	}
	return base, committed
}
