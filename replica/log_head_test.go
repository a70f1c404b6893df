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
