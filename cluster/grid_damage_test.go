package cluster

import (
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chronon-db/chronon/journal"
	"github.com/chronon-db/chronon/replica"
	"github.com/chronon-db/chronon/wire"
)

// damageCheckpointBlock flips a bit in the first grid block of the blob
// ref (journal.Ref*) of the durable checkpoint in a stopped replica's data
// file, and returns the checkpoint's op.
func damageCheckpointBlock(t *testing.T, path string, ref int) uint64 {
	t.Helper()
	return damageCheckpointBlockAt(t, path, ref, 0)
}

// damageCheckpointBlockAt flips a bit in a block of the blob ref: n 0
// its first index block, n ≥ 1 the data block the first index block names
// n-th (blob order).
func damageCheckpointBlockAt(t *testing.T, path string, ref, n int) uint64 {
	t.Helper()
	fs, err := journal.OpenFile(path, true)
	if err != nil {
		t.Fatal(err)
	}
	sb, _, err := journal.ReadSuperblock(fs)
	fs.Close()
	if err != nil {
		t.Fatal(err)
	}
	if sb.VSR.CheckpointOp == 0 || sb.VSR.Refs[ref].IsZero() {
		t.Fatalf("no checkpoint blob %d to damage: %+v", ref, sb.VSR)
	}
	layout, err := journal.NewLayout(sb.Config)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	address := sb.VSR.Refs[ref].Address
	if n > 0 {
		// Index entries (docs/data-file.md): address u64, size u32,
		// segment u32, checksum u128, body checksum u128.
		const entrySize = 48
		block := make([]byte, sb.Config.GridBlockSize)
		if _, err := f.ReadAt(block, int64(layout.BlockOffset(address))); err != nil {
			t.Fatal(err)
		}
		var h wire.Header
		h.Decode(block)
		if int(h.Size) > len(block) || (int(h.Size)-wire.HeaderSize)/entrySize < n {
			t.Fatalf("the first index block of blob %d names fewer than %d blocks", ref, n)
		}
		address = binary.LittleEndian.Uint64(block[wire.HeaderSize+(n-1)*entrySize:])
	}
	off := int64(layout.BlockOffset(address)) + 300
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x10
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
	return sb.VSR.CheckpointOp
}

// TestClusterReplicaWithACorruptFreeSetKeepsCheckpointing: bit rot in the
// free-set block of a backup's durable checkpoint (while it is down). At
// restart the free set is rebuilt from the checkpoint's references; the
// replica goes on taking checkpoints (it used to panic at the next one,
// and at every restart after) and agrees with its peers.
func TestClusterReplicaWithACorruptFreeSetKeepsCheckpointing(t *testing.T) {
	c := startCluster(t, 3)
	admin := dial(t, c)
	createAccounts(t, admin)
	transferLoad(t, c, 1, 80, 0) // one op per transfer: beyond one checkpoint interval (56 ops)
	waitCaughtUp(t, c)
	if _, err := c.StopReplica(2); err != nil {
		t.Fatal(err)
	}
	op := damageCheckpointBlock(t, c.DataFile(2), journal.RefFreeSet)
	if err := c.StartReplica(2); err != nil {
		t.Fatal(err)
	}
	transferLoad(t, c, 1, 120, 1_000_000) // two more checkpoints
	waitCaughtUp(t, c)
	checkBalances(t, admin, 200)
	nodes := checkReplicasAgree(t, c)
	if got := nodes[2].Recovery().CheckpointOp; got != op {
		t.Fatalf("replica 2 restored the checkpoint at op %d, want %d", got, op)
	}
	j := reopen(t, c.DataFile(2))
	if j.GridFault() != nil || j.Superblock().VSR.CheckpointOp <= op {
		t.Fatalf("after restart: grid fault %v, checkpoint at op %d (was %d)", j.GridFault(), j.Superblock().VSR.CheckpointOp, op)
	}
}

// TestClusterReplicaWithADamagedCheckpointCopiesOneFromThePrimary: bit rot
// in a state block of a backup's durable checkpoint (while it is down).
// It used to refuse to start for good; now it starts without the
// checkpoint, withholds its vote, copies the primary's checkpoint (state
// sync), catches up and votes again, and a further restart is clean.
func TestClusterReplicaWithADamagedCheckpointCopiesOneFromThePrimary(t *testing.T) {
	c := startCluster(t, 3)
	admin := dial(t, c)
	createAccounts(t, admin)
	transferLoad(t, c, 1, 80, 0) // one client: one op per transfer
	waitCaughtUp(t, c)
	stopped, err := c.StopReplica(2)
	if err != nil {
		t.Fatal(err)
	}
	if op := stopped.Replica().Op(); op <= 64 {
		t.Fatalf("%d ops: the WAL (64 slots) still holds op 1", op)
	}
	op := damageCheckpointBlock(t, c.DataFile(2), journal.RefState)
	if err := c.StartReplica(2); err != nil {
		t.Fatal(err)
	}
	rec := c.Node(2).Recovery()
	if rec.CheckpointDamaged == nil || rec.Damage != replica.DamageCheckpoint {
		t.Fatalf("recovery of a damaged checkpoint at op %d: %+v", op, rec)
	}
	t.Logf("recovery: %v", rec.CheckpointDamaged)
	transferLoad(t, c, 2, 20, 1_000_000)
	waitCaughtUp(t, c)
	deadline := time.Now().Add(10 * time.Second)
	for c.Node(2).Metrics().Protocol.Rejoined == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("replica 2 caught up but still withholds its vote: %+v", c.Node(2).Metrics().Protocol)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if m := c.Node(2).Metrics().Protocol; m.SyncsDone == 0 {
		t.Fatalf("replica 2 caught up without state sync: %+v", m)
	}
	checkBalances(t, admin, 80+2*20)
	if _, err := c.StopReplica(2); err != nil {
		t.Fatal(err)
	}
	if err := c.StartReplica(2); err != nil {
		t.Fatal(err)
	}
	if rec := c.Node(2).Recovery(); rec.CheckpointDamaged != nil || rec.CheckpointOp < op {
		t.Fatalf("second restart: %+v", rec)
	}
	transferLoad(t, c, 2, 10, 2_000_000)
	waitCaughtUp(t, c)
	checkBalances(t, admin, 80+2*30)
	checkReplicasAgree(t, c)
}

// reopen opens a stopped replica's data file read-only.
func reopen(t *testing.T, path string) *journal.Journal {
	t.Helper()
	f, err := journal.OpenFile(path, true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	j, err := journal.OpenReadOnly(f)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// TestClusterReplicaWithADamagedFirstCheckpointReplaysItsWAL: the damaged
// checkpoint is the first one (op 56) and every op since the root is still
// in the WAL (64 slots): the replica rebuilds the state from its own WAL,
// re-takes the checkpoint at the same op, and catches up.
func TestClusterReplicaWithADamagedFirstCheckpointReplaysItsWAL(t *testing.T) {
	c := startCluster(t, 3)
	admin := dial(t, c)
	createAccounts(t, admin)
	transferLoad(t, c, 1, 55, 0) // 2 registrations, accounts, 55 transfers: 58 ops
	waitCaughtUp(t, c)
	stopped, err := c.StopReplica(2)
	if err != nil {
		t.Fatal(err)
	}
	if op := stopped.Replica().Op(); op >= 64 {
		t.Fatalf("%d ops: the WAL wrapped", op)
	}
	op := damageCheckpointBlock(t, c.DataFile(2), journal.RefState)
	if err := c.StartReplica(2); err != nil {
		t.Fatal(err)
	}
	rec := c.Node(2).Recovery()
	if rec.CheckpointDamaged == nil || rec.Replayed < op {
		t.Fatalf("recovery of a damaged first checkpoint at op %d: %+v", op, rec)
	}
	transferLoad(t, c, 2, 20, 1_000_000)
	waitCaughtUp(t, c)
	checkBalances(t, admin, 55+40)
	checkReplicasAgree(t, c)
	if j := reopen(t, c.DataFile(2)); j.Superblock().VSR.CheckpointOp < op {
		t.Fatalf("checkpoint at op %d after recovery from a damaged one at %d", j.Superblock().VSR.CheckpointOp, op)
	} else if _, err := j.ReadCheckpoint(journal.CheckpointData{}); err != nil {
		t.Fatalf("checkpoint after recovery: %v", err)
	}
}

// TestSingleReplicaWithADamagedCheckpointRefusesToStart: a single replica
// has no peer to copy a checkpoint from, so it refuses to start, naming
// the damaged block, rather than start with a state it lost.
func TestSingleReplicaWithADamagedCheckpointRefusesToStart(t *testing.T) {
	c := startCluster(t, 1)
	admin := dial(t, c)
	createAccounts(t, admin)
	transferLoad(t, c, 1, 60, 0)
	if _, err := c.StopReplica(0); err != nil {
		t.Fatal(err)
	}
	damageCheckpointBlock(t, c.DataFile(0), journal.RefState)
	err := c.StartReplica(0)
	if !errors.Is(err, replica.ErrCheckpoint) || !errors.Is(err, journal.ErrCorrupt) || !strings.Contains(err.Error(), "no peer") {
		t.Fatalf("start of a single replica with a damaged checkpoint: %v", err)
	}
	t.Log(err)
}
