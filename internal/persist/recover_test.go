package persist

import (
	"io"
	"log/slog"
	"testing"

	"github.com/chronon-db/chronon/journal"
	"github.com/chronon-db/chronon/kv"
	"github.com/chronon-db/chronon/replica"
	"github.com/chronon-db/chronon/wire"
)

var r3Cluster = wire.Uint128{Lo: 0xC1, Hi: 0x0C}

type r3Bus struct{}

func (r3Bus) SendToReplica(uint8, *wire.Message)       {}
func (r3Bus) SendToClient(wire.Uint128, *wire.Message) {}

type r3Clock struct{}

func (r3Clock) Realtime() uint64 { return 1 }

// r3Storage misdirects the first write to offset from (when armed) to
// offset to: one misdirected write.
type r3Storage struct {
	*journal.MemoryStorage
	from, to uint64
	armed    bool
}

func (s *r3Storage) Write(buf []byte, offset uint64, cb func(error)) {
	if s.armed && offset == s.from {
		s.armed = false
		offset = s.to
	}
	s.MemoryStorage.Write(buf, offset, cb)
}

func r3Prepare(op uint64, view uint32, commit uint64, parent wire.Uint128) ([]byte, wire.Header) {
	msg := wire.AlignedSlice(int(journal.ConfigTest.MessageSizeMax))
	h := wire.Header{
		Cluster: r3Cluster, Parent: parent, Op: op, Commit: commit, Timestamp: 1000 + op,
		Size: uint32(wire.HeaderSize + 64), View: view, Protocol: wire.ProtocolVersion,
		Command: wire.CommandPrepare, Operation: wire.OperationUserMin,
	}
	for i := 0; i < 64; i++ {
		msg[wire.HeaderSize+i] = byte(op*31 + uint64(i)*7 + uint64(view))
	}
	h.Encode(msg)
	wire.Seal(&h, msg[:h.Size])
	return msg, h
}

// r3Recover opens s and runs Recover on a fresh replica, as node.Start does.
func r3Recover(t *testing.T, s journal.Storage) (*replica.Replica, RecoveryInfo, *journal.Journal) {
	t.Helper()
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
	st, err := kv.New(kv.Config{KeysMax: 64, ValueSizeMax: 64, ReplySizeLimit: kv.ReplySizeLimitFor(limits.MessageSizeMax), HashSeed: 7})
	if err != nil {
		t.Fatal(err)
	}
	rcfg := replica.Config{Cluster: sb.Cluster, ReplicaCount: sb.ReplicaCount, Replica: sb.Replica, Limits: limits,
		WALSlotCount: uint64(sb.Config.SlotCount), CheckpointInterval: CheckpointInterval(sb.Config, limits)}
	rcfg.DefaultTimeouts()
	r, err := replica.New(rcfg, pool, r3Bus{}, wal, r3Clock{}, st)
	if err != nil {
		t.Fatal(err)
	}
	info, err := Recover(j, r, slog.New(slog.NewTextHandler(io.Discard, nil)), false)
	if err != nil {
		t.Fatal(err)
	}
	return r, info, j
}

// r3Journal formats a data file and journals ops 1..n of view 0, each
// prepared while the ops lag behind it were committed.
func r3Journal(t *testing.T, n, lag uint64) (*journal.MemoryStorage, *journal.Journal) {
	t.Helper()
	base := r3Format(t)
	j, err := journal.Open(base)
	if err != nil {
		t.Fatal(err)
	}
	r3WriteOps(t, j, n, lag, nil)
	return base, j
}

// r3WriteOps journals ops 1..n of view 0 in j, each prepared while the ops
// lag behind it were committed; before, if not nil, runs before each op's
// write.
func r3WriteOps(t *testing.T, j *journal.Journal, n, lag uint64, before func(op uint64)) {
	t.Helper()
	parent := wire.RootPrepare(r3Cluster).Checksum
	for op := uint64(1); op <= n; op++ {
		if before != nil {
			before(op)
		}
		msg, h := r3Prepare(op, 0, op-min(op, lag), parent)
		if err := j.WritePrepare(msg); err != nil {
			t.Fatal(err)
		}
		parent = h.Checksum
	}
}

// r3Acked journals ops 1..10 of view 0 (each prepared with the ops 2
// behind it committed), records log_view 0 with log head logOp and
// commit_min = commit_max = commit, and loses power (CrashLoseAll: what
// the journal synced survives): a backup that acknowledged ops 1..10. It
// returns the data file and its layout, for the faults a test puts there
// before recovery.
func r3Acked(t *testing.T, logOp, commit uint64) (*journal.MemoryStorage, *journal.Layout) {
	t.Helper()
	base, j := r3Journal(t, 10, 2)
	if err := j.SetVSRLog(0, 0, logOp, wire.Uint128{}, commit, commit); err != nil {
		t.Fatal(err)
	}
	l, err := journal.NewLayout(journal.ConfigTest)
	if err != nil {
		t.Fatal(err)
	}
	base.Crash(journal.CrashLoseAll)
	return base, &l
}

// r3Rot flips a bit in the body of op's prepare in s: bit rot the
// checksum catches while the op's redundant header stays intact.
func r3Rot(s *journal.MemoryStorage, l *journal.Layout, op uint64) {
	s.FlipBit(l.PrepareOffset(l.SlotOf(op))+wire.HeaderSize+3, 1)
}

func r3Format(t *testing.T) *journal.MemoryStorage {
	t.Helper()
	l, err := journal.NewLayout(journal.ConfigTest)
	if err != nil {
		t.Fatal(err)
	}
	s := journal.NewMemoryStorage(l.Size, 1, journal.MemoryFaults{})
	if err := journal.Format(s, journal.FormatOptions{Config: journal.ConfigTest, Cluster: r3Cluster, Replica: 1, ReplicaCount: 3}); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestMisdirectedTruncationDoesNotReplayDiscardedOp (safety, found in review;
// review 3): a backup journals ops 1..20 of view 0 (13..20 uncommitted),
// installs start_view(1) whose log keeps 1..12 and puts a different op 13'
// there, committed. installLog truncates the journal after op 12; the one
// write that reserves slot 13's prepare is misdirected to an empty slot.
// The replica records commit_max 13 (start_view's commit, RecordVSR) and
// crashes before repairing 13'. At restart slot 13 classifies as
// header_stale/fix (reserved redundant header, valid prepare): the
// discarded op chains from op 12, the report is clean, and Recover replays
// it as committed — a divergent commit, and the replica does not even
// withhold its vote (op_max 13 = log head 13).
func TestMisdirectedTruncationDoesNotReplayDiscardedOp(t *testing.T) {

	base := r3Format(t)
	l, _ := journal.NewLayout(journal.ConfigTest)
	s := &r3Storage{MemoryStorage: base, from: l.PrepareOffset(l.SlotOf(13)), to: l.PrepareOffset(l.SlotOf(40))}
	j, err := journal.Open(s)
	if err != nil {
		t.Fatal(err)
	}
	parent := wire.RootPrepare(r3Cluster).Checksum
	sums := []wire.Uint128{parent}
	for op := uint64(1); op <= 20; op++ {
		commit := uint64(0)
		if op > 4 {
			commit = min(op-4, 12)
		}
		msg, h := r3Prepare(op, 0, commit, parent)
		if err := j.WritePrepare(msg); err != nil {
			t.Fatal(err)
		}
		parent = h.Checksum
		sums = append(sums, h.Checksum)
	}
	if err := j.SetVSRLog(0, 0, 20, wire.Uint128{}, 12, 12); err != nil {
		t.Fatal(err)
	}
	// start_view(1): keep 12, head 13' (view 1), commit 13.
	_, h13new := r3Prepare(13, 1, 12, sums[12])
	s.armed = true
	if err := j.Truncate(12); err != nil {
		t.Fatal(err)
	}
	if s.armed {
		t.Fatal("setup: the truncation did not write slot 13's prepare")
	}
	if err := j.SetVSRLog(1, 1, 13, wire.Uint128{}, 12, 12); err != nil { // persistView in onStartView
		t.Fatal(err)
	}
	if err := j.SetVSR(1, 1, 12, 13); err != nil { // RecordVSR: commit_max 13 from start_view
		t.Fatal(err)
	}
	base.Crash(journal.CrashKeepAll)
	r, info, _ := r3Recover(t, base)
	t.Logf("recovery: %+v; commit_min %d op %d rejoining %v", info, r.CommitMin(), r.Op(), r.Rejoining())
	if r.CommitMin() >= 13 && r.CommitChecksum() != h13new.Checksum {
		disc := "the discarded view-0 op"
		if r.CommitChecksum() != sums[13] {
			disc = "an unknown op"
		}
		t.Fatalf("replica committed op 13 = %s (checksum %v) while the cluster committed 13' (%v); withholding: %v",
			disc, r.CommitChecksum(), h13new.Checksum, r.Rejoining())
	}
}

// TestRecordedCommitAboveJournalDoesNotWithhold (liveness, found in review): a
// backup's journal is whole (ops 1..10, every one it acknowledged), but it
// had learned commit_max 14 from the primary (a commit heartbeat or a
// prepare buffered ahead of a gap) and RecordVSR wrote it. Recovery
// replays "as committed" up to 14, finds no op 11, sets lost and makes the
// replica withhold its vote, although nothing it acknowledged is missing.
// After a cluster-wide power loss with two such lagging backups (3
// replicas) no view can start: the withholding replicas wait for a primary
// that needs their votes.
func TestRecordedCommitAboveJournalDoesNotWithhold(t *testing.T) {
	base, j := r3Journal(t, 10, 4)
	if err := j.SetVSR(0, 0, 6, 14); err != nil {
		t.Fatal(err)
	}
	base.Crash(journal.CrashKeepAll)
	r, info, _ := r3Recover(t, base)
	t.Logf("recovery: %+v; commit_min %d op %d rejoining %v", info, r.CommitMin(), r.Op(), r.Rejoining())
	if info.Incomplete() || r.Rejoining() {
		t.Fatalf("a whole journal (ops 1..10, report clean) withholds the vote only because commit_max %d > op_max %d", 14, info.WALOpMax)
	}
}
