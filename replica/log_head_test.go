package replica

import (
	"testing"

	"github.com/chronon-db/chronon/wire"
)

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
