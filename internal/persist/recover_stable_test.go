package persist

import (
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/chronon-db/chronon/journal"
	"github.com/chronon-db/chronon/ledger"
	"github.com/chronon-db/chronon/replica"
	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

// stableCheckpointOp is the op of the checkpoint stableFile writes.
const stableCheckpointOp = 64

// stableLedger returns a ledger of a size that fits ConfigTest's grid.
func stableLedger(t *testing.T) *ledger.Ledger {
	t.Helper()
	l, err := ledger.New(ledger.Config{AccountsMax: 16, TransfersMax: 2048, BatchMax: ledger.BatchMaxFor(journal.ConfigTest.MessageSizeMax), HashSeed: 7})
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// stableFile formats a data file (replica 1 of 3) and writes to it a
// checkpoint at stableCheckpointOp of a ledger holding n transfers, whose
// stable prefix (the transfers) the journal marks held. It returns the
// file's path and the ledger's digest.
func stableFile(t *testing.T, n int) (string, wire.Uint128) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "data")
	l, err := journal.NewLayout(journal.ConfigTest)
	if err != nil {
		t.Fatal(err)
	}
	s, err := journal.CreateFile(path, l.Size)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := journal.Format(s, journal.FormatOptions{Config: journal.ConfigTest, Cluster: r3Cluster, Replica: 1, ReplicaCount: 3}); err != nil {
		t.Fatal(err)
	}
	j, err := journal.Open(s)
	if err != nil {
		t.Fatal(err)
	}
	led := stableLedger(t)
	apply := func(ts uint64, op wire.Operation, body []byte) {
		reply := make([]byte, led.ReplySizeMax(op, len(body)))
		ctx := statemachine.Context{Timestamp: ts}
		if r := reply[:led.Apply(&ctx, op, body, reply)]; len(r) != 0 {
			t.Fatalf("setup: operation %d failed: % x", op, r[:min(len(r), 16)])
		}
	}
	apply(100, ledger.OperationCreateAccounts, ledger.AppendAccount(ledger.AppendAccount(nil,
		&ledger.Account{ID: wire.Uint128{Lo: 1}, Ledger: 7, Code: 1}), &ledger.Account{ID: wire.Uint128{Lo: 2}, Ledger: 7, Code: 1}))
	ts := uint64(1000)
	for i := 0; i < n; {
		var body []byte
		for k := 0; k < 100 && i < n; k, i = k+1, i+1 {
			body = ledger.AppendTransfer(body, &ledger.Transfer{ID: wire.Uint128{Lo: uint64(i + 1)},
				DebitAccountID: wire.Uint128{Lo: 1 + uint64(i%2)}, CreditAccountID: wire.Uint128{Lo: 2 - uint64(i%2)},
				Amount: wire.Uint128{Lo: uint64(i%7 + 1)}, Ledger: 7, Code: 1})
		}
		ts += 1000
		apply(ts, ledger.OperationCreateTransfers, body)
	}
	state, ends := led.SnapshotSegments(nil, nil)
	seg, size := led.SnapshotStable()
	data := journal.CheckpointData{State: state, StateSegments: ends, StableSegment: seg, StableSize: size}
	if err := j.Checkpoint(stableCheckpointOp, wire.Uint128{Lo: 0xcc}, data); err != nil {
		t.Fatal(err)
	}
	if _, held := j.StableHeld(); held < 8*j.StableUnit() {
		t.Fatalf("setup: the checkpoint holds %d stable bytes, want 8 blocks of %d", held, j.StableUnit())
	}
	return path, led.Digest()
}

// gridReads counts the reads of each offset of a storage.
type gridReads struct {
	journal.Storage
	reads map[uint64]int
}

func (s *gridReads) Read(buf []byte, offset uint64, cb func(error)) {
	s.reads[offset]++
	s.Storage.Read(buf, offset, cb)
}

// stableRecover opens the data file at path as node.Start does with the
// ledger's transfers in the grid (a stable block cache of one block),
// runs Recover, closes the file, and returns the replica, what Recover
// found, the ledger, the journal and the reads of each offset of the file.
func stableRecover(t *testing.T, path string) (*replica.Replica, RecoveryInfo, *ledger.Ledger, *journal.Journal, map[uint64]int) {
	t.Helper()
	f, err := journal.OpenFile(path, false)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := &gridReads{Storage: f, reads: map[uint64]int{}}
	j, err := journal.Open(s)
	if err != nil {
		t.Fatal(err)
	}
	sb := j.Superblock()
	limits := Limits(sb.Config, int(sb.ReplicaCount))
	pool, err := wire.NewPool(limits.MessagesMax(), limits.MessageSizeMax)
	if err != nil {
		t.Fatal(err)
	}
	wal, err := NewAdapter(j, limits.PipelinePrepareMax*2+limits.JournalReadsMax)
	if err != nil {
		t.Fatal(err)
	}
	led := stableLedger(t)
	seg, _ := led.SnapshotStable()
	j.SetStableCache(1)
	led.SetStableStore(NewStableStore(j, wal, seg))
	rcfg := replica.Config{Cluster: sb.Cluster, ReplicaCount: sb.ReplicaCount, Replica: sb.Replica, Limits: limits,
		WALSlotCount: uint64(sb.Config.SlotCount), CheckpointInterval: CheckpointInterval(sb.Config, limits)}
	rcfg.DefaultTimeouts()
	r, err := replica.New(rcfg, pool, r3Bus{}, wal, r3Clock{}, led)
	if err != nil {
		t.Fatal(err)
	}
	clear(s.reads) // what Open read: superblock, WAL, indexes, free set
	info, err := Recover(j, r, slog.New(slog.NewTextHandler(io.Discard, nil)), true)
	if err != nil {
		t.Fatal(err)
	}
	return r, info, led, j, s.reads
}

// TestRestartReadsTheStablePrefixOnce: a restart whose checkpoint holds
// the ledger's transfers in the grid reads each of their blocks from the
// data file once: the ledger's restore reads (and verifies) them, and the
// replica's state sync manifest is checksummed in that pass; nothing
// verifies them before or reads them again to seal. The ledger is the
// checkpoint's, with the transfers dropped from memory.
func TestRestartReadsTheStablePrefixOnce(t *testing.T) {
	path, digest := stableFile(t, 1000)
	r, info, led, j, reads := stableRecover(t, path)
	if info.CheckpointDamaged != nil || r.CommitMin() != stableCheckpointOp {
		t.Fatalf("restart: damaged %v, commit_min %d", info.CheckpointDamaged, r.CommitMin())
	}
	if led.Digest() != digest || led.TransfersInMemory() == 1000 {
		t.Fatalf("restored ledger: digest %v want %v, %d transfers in memory", led.Digest(), digest, led.TransfersInMemory())
	}
	_, held := j.StableHeld()
	blocks := held / j.StableUnit()
	l := j.Layout()
	for k := range blocks {
		if n := reads[l.BlockOffset(j.StableBlockAddress(k))]; n != 1 {
			t.Errorf("stable block %d read %d times at restart, want once", k, n)
		}
	}
	if st := j.StableCacheStats(); st.Misses != uint64(blocks) {
		t.Errorf("%d stable blocks read through the store at restart, want %d", st.Misses, blocks)
	}
}

// TestRestartFindsADamagedStableBlock: a bit flipped in a held stable
// block (the ledger's transfers) is found at restart, where the ledger's
// restore reads it: the checkpoint is damaged (the replica starts without
// it, withholds a whole vote and copies one from the primary), not a
// failed start, and the ledger keeps nothing of it. Each damaged block:
// the first, a middle one and the last.
func TestRestartFindsADamagedStableBlock(t *testing.T) {
	path, _ := stableFile(t, 1000)
	clean, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	_, _, _, j, _ := stableRecover(t, path)
	_, held := j.StableHeld()
	blocks := held / j.StableUnit()
	l := j.Layout()
	for _, k := range []int{0, blocks / 2, blocks - 1} {
		b := append([]byte(nil), clean...)
		b[l.BlockOffset(j.StableBlockAddress(k))+wire.HeaderSize+uint64(17*k)%uint64(j.StableUnit())] ^= 0x20
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		r, info, led, _, _ := stableRecover(t, path)
		if !errors.Is(info.CheckpointDamaged, journal.ErrCorrupt) {
			t.Fatalf("block %d damaged: checkpoint damaged %v, want a corrupt block", k, info.CheckpointDamaged)
		}
		if info.Damage != replica.DamageCheckpoint || info.Vote == replica.VoteWhole || r.CommitMin() != 0 {
			t.Fatalf("block %d damaged: damage %v vote %v commit_min %d; want the checkpoint damaged, no whole vote, the root state", k, info.Damage, info.Vote, r.CommitMin())
		}
		if led.TransfersInMemory() != 0 || led.StableOmitted() != 0 {
			t.Fatalf("block %d damaged: the ledger kept %d transfers", k, led.TransfersInMemory())
		}
	}
}
