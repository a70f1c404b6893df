package cluster

import (
	"context"
	"testing"
	"time"

	"github.com/chronon-db/chronon/client"
	"github.com/chronon-db/chronon/journal"
	"github.com/chronon-db/chronon/ledger"
	"github.com/chronon-db/chronon/wire"
)

// bulkTransfers creates n transfers of amount 1 with ids from base+1, per
// requests of batch transfers (one op each).
func bulkTransfers(t *testing.T, cl *client.Client, base uint64, n, batch int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	for done := 0; done < n; done += batch {
		var trs []ledger.Transfer
		for i := done; i < min(done+batch, n); i++ {
			id := base + uint64(i) + 1
			trs = append(trs, ledger.Transfer{ID: wire.Uint128{Lo: id}, DebitAccountID: wire.Uint128{Lo: id%accounts + 1},
				CreditAccountID: wire.Uint128{Lo: (id+1)%accounts + 1}, Amount: wire.Uint128{Lo: 1}, Ledger: 1, Code: 1})
		}
		failed, err := cl.CreateTransfers(ctx, trs)
		if err != nil || len(failed) != 0 {
			t.Fatalf("bulk transfers from %d: %v %v", base+uint64(done)+1, err, failed)
		}
	}
}

// TestClusterSyncFetchesOnlyWhatChanged: a backup stopped with a
// checkpoint of about a megabyte of ledger state (16 chunks of 64 KiB)
// restarts after the cluster committed more ops than the WAL holds (64
// slots) and a new checkpoint. It state-syncs (in-process nodes
// over TCP, O_DIRECT files) and fetches only the chunks that changed: the
// first (the lengths and counts in the headers) and the tail (new
// transfers, account balances, the client table); the others are filled
// from its own checkpoint. The state converges.
func TestClusterSyncFetchesOnlyWhatChanged(t *testing.T) {
	c := startCluster(t, 3)
	admin := dial(t, c)
	createAccounts(t, admin)
	bulkTransfers(t, admin, 0, 8000, 400)
	transferLoad(t, c, 1, 60, 100_000) // past a checkpoint (every 56 ops) that holds the bulk
	waitCaughtUp(t, c)
	stopped, err := c.StopReplica(2)
	if err != nil {
		t.Fatal(err)
	}
	at := stopped.Replica().Op()
	transferLoad(t, c, 1, 150, 200_000) // one op per transfer: the WAL wraps
	if err := c.StartReplica(2); err != nil {
		t.Fatal(err)
	}
	if err := c.WaitConnected(10 * time.Second); err != nil {
		t.Fatal(err)
	}
	waitCaughtUp(t, c)
	checkBalances(t, admin, 8000+60+150)
	nodes := checkReplicasAgree(t, c)
	s := nodes[2].Replica().Counters
	total := s.SyncBytesFetched + s.SyncBytesLocal
	t.Logf("replica 2 stopped at op %d; syncs %d; fetched %d chunks (%d bytes), filled %d locally (%d bytes) of %d bytes",
		at, s.SyncsDone, s.SyncChunksFetched, s.SyncBytesFetched, s.SyncChunksLocal, s.SyncBytesLocal, total)
	if s.SyncsDone == 0 || s.SyncChunksLocal == 0 || s.SyncBytesFetched*2 > total {
		t.Fatalf("replica 2 synced %d times, fetching %d of %d bytes", s.SyncsDone, s.SyncBytesFetched, total)
	}
}

// TestClusterDamagedCheckpointSyncFetchesTheDamage: bit rot in a block in
// the middle of the state of a stopped backup's checkpoint (about a
// megabyte of ledger), its WAL wrapped since the root. At restart it
// cannot read the checkpoint, keeps what it read (the client table and the
// state up to the bad block) and syncs the primary's checkpoint fetching
// only the chunks that differ from those bytes or lie beyond them.
func TestClusterDamagedCheckpointSyncFetchesTheDamage(t *testing.T) {
	c := startCluster(t, 3)
	admin := dial(t, c)
	createAccounts(t, admin)
	bulkTransfers(t, admin, 0, 8000, 400)
	transferLoad(t, c, 1, 60, 100_000) // past a checkpoint (every 56 ops) that holds the bulk
	waitCaughtUp(t, c)
	stopped, err := c.StopReplica(2)
	if err != nil {
		t.Fatal(err)
	}
	if op := stopped.Replica().Op(); op <= 64 {
		t.Fatalf("%d ops: the WAL (64 slots) still holds op 1", op)
	}
	op := damageCheckpointBlockAt(t, c.DataFile(2), journal.RefState, 80)
	if err := c.StartReplica(2); err != nil {
		t.Fatal(err)
	}
	if rec := c.Node(2).Recovery(); rec.CheckpointDamaged == nil {
		t.Fatalf("recovery of a damaged checkpoint at op %d: %+v", op, rec)
	}
	transferLoad(t, c, 1, 20, 1_000_000)
	waitCaughtUp(t, c)
	checkBalances(t, admin, 8000+60+20)
	nodes := checkReplicasAgree(t, c)
	s := nodes[2].Replica().Counters
	total := s.SyncBytesFetched + s.SyncBytesLocal
	t.Logf("damaged block 80 of the state (8 KiB blocks); syncs %d; fetched %d chunks (%d bytes), filled %d from what was read (%d bytes) of %d bytes",
		s.SyncsDone, s.SyncChunksFetched, s.SyncBytesFetched, s.SyncChunksLocal, s.SyncBytesLocal, total)
	if s.SyncsDone == 0 || s.SyncChunksLocal == 0 || 3*s.SyncBytesFetched > 2*total {
		t.Fatalf("replica 2 synced %d times, fetching %d of %d bytes", s.SyncsDone, s.SyncBytesFetched, total)
	}
}
