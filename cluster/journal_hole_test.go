package cluster

import (
	"os"
	"testing"
	"time"

	"github.com/chronon-db/chronon/journal"
)

// TestClusterReplicaWithAJournalHoleWithholdsItsVote: a backup's data file
// loses one prepare in the middle of its WAL (bit rot while it is down).
// At restart its journal holds ops past the hole that it acknowledged but
// cannot load, so it must not vote with its shorter log: recovery says
// so, and the replica catches up from its peers before voting again.
func TestClusterReplicaWithAJournalHoleWithholdsItsVote(t *testing.T) {
	c := startCluster(t, 3)
	admin := dial(t, c)
	createAccounts(t, admin)
	transferLoad(t, c, 2, 15, 0)
	waitCaughtUp(t, c)
	stopped, err := c.StopReplica(2)
	if err != nil {
		t.Fatal(err)
	}
	head := stopped.Replica().Op()
	if head < 10 {
		t.Fatalf("only %d ops", head)
	}
	// Rot in the body of op head-5's prepare.
	fs, err := journal.OpenFile(c.DataFile(2), true)
	if err != nil {
		t.Fatal(err)
	}
	sb, _, err := journal.ReadSuperblock(fs)
	fs.Close()
	if err != nil {
		t.Fatal(err)
	}
	if sb.VSR.CheckpointOp >= head-5 {
		t.Fatalf("op %d is in the checkpoint at %d", head-5, sb.VSR.CheckpointOp)
	}
	layout, err := journal.NewLayout(sb.Config)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(c.DataFile(2), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	off := int64(layout.PrepareOffset(layout.SlotOf(head-5))) + 300
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x40
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.StartReplica(2); err != nil {
		t.Fatal(err)
	}
	rec := c.Node(2).Recovery()
	if !rec.Incomplete() || rec.Replayed+rec.Prepared >= head-sb.VSR.CheckpointOp {
		t.Fatalf("recovery of a journal with a hole at op %d of %d: %+v", head-5, head, rec)
	}
	transferLoad(t, c, 2, 10, 1_000_000)
	waitCaughtUp(t, c)
	deadline := time.Now().Add(10 * time.Second)
	for c.Node(2).Metrics().Protocol.Rejoined == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("replica 2 caught up but still withholds its vote: %+v", c.Node(2).Metrics().Protocol)
		}
		time.Sleep(20 * time.Millisecond)
	}
	checkBalances(t, admin, 2*25)
	checkReplicasAgree(t, c)
}
