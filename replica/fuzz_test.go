package replica

import (
	"testing"

	"github.com/chronon-db/chronon/wire"
)

// FuzzRestoreCheckpoint feeds arbitrary bytes to the checkpoint decoders a
// replica runs on data from disk or from a peer (state sync): the blob
// splitter and the client-table decoder. Bad bytes must give an error,
// never a panic.
func FuzzRestoreCheckpoint(f *testing.F) {
	c := newCluster(f, 1, 1, 2, 3)
	c.replicas[0].cfg.CheckpointInterval = 2
	c.run(5_000)
	seed := c.replicas[0].encodeSessions(nil)
	f.Add(seed)
	f.Add(joinCheckpointBlob(CheckpointBlobs{State: []byte{1, 2}, Sessions: seed}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = splitCheckpointBlob(b)
		fresh := newCluster(t, 2, 1, 0, 0)
		r := fresh.replicas[0]
		err := r.Restore(5, wire.Uint128{Lo: 1}, CheckpointBlobs{Sessions: b})
		if err == nil && r.CommitMin() != 5 {
			t.Fatalf("accepted sessions but commit %d", r.CommitMin())
		}
	})
}
