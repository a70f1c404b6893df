package persist

import (
	"testing"

	"github.com/chronon-db/chronon/journal"
	"github.com/chronon-db/chronon/wire"
)

// deferredJournal journals ops 1..n in HeaderDeferred mode (as node and sim
// run it) on a storage that misdirects the prepare write of op n to the
// slot of op `to`; every WritePrepare returned, so the replica acknowledged
// ops 1..n. The redundant header of op n is still pending (not flushed)
// when the replica loses power.
func deferredJournal(t *testing.T, n, to uint64) *journal.MemoryStorage {
	t.Helper()
	base := r3Format(t)
	l, err := journal.NewLayout(journal.ConfigTest)
	if err != nil {
		t.Fatal(err)
	}
	s := &r3Storage{MemoryStorage: base, from: l.PrepareOffset(l.SlotOf(n)), to: l.PrepareOffset(l.SlotOf(to))}
	j := r3OpenDeferred(t, s)
	r3WriteOps(t, j, n, 2, func(op uint64) { s.armed = op == n })
	if s.armed {
		t.Fatal("setup: the prepare write of the tail op was not misdirected")
	}
	if err := j.SetVSR(0, 0, n-2, n-2); err != nil {
		t.Fatal(err)
	}
	base.Crash(journal.CrashLoseAll)
	return base
}

// r3OpenDeferred opens the journal on s in HeaderDeferred mode.
func r3OpenDeferred(t *testing.T, s journal.Storage) *journal.Journal {
	t.Helper()
	j, err := journal.Open(s)
	if err != nil {
		t.Fatal(err)
	}
	if err := j.SetHeaderMode(journal.HeaderDeferred); err != nil {
		t.Fatal(err)
	}
	return j
}

// TestDeferredMisdirectedTailDamagedBound (review of damaged votes): in
// HeaderDeferred mode prepare_ok goes once the prepare is durable; its
// redundant header follows with the next batch. The prepare write of the
// acknowledged tail op 10 is misdirected, and the replica loses power
// before op 10's header is written: slot 10 holds nothing of op 10.
//   - Onto the slot of op 5: slot 5 holds another slot's prepare under op
//     5's header (prepare_corrupt, repair op 5). The damage looked
//     bounded with bound 9: its damaged vote nacked op 10, and a view
//     change with a whole vote ending at 9 dropped op 10, committed with
//     this replica's ack (before damaged votes it withheld).
//   - Onto slot 30, never written (reserved redundant header): the slot
//     reads as an interrupted write (torn, cut) and the journal looked
//     whole: the replica voted whole with ops 1..9.
//
// The misdirected prepare names op 10: the replica must withhold or send
// damaged votes that cover it.
func TestDeferredMisdirectedTailDamagedBound(t *testing.T) {
	for _, to := range []uint64{5, 30} {
		base := deferredJournal(t, 10, to)
		r, info, j := r3Recover(t, base)
		t.Logf("onto slot %d: repair %+v misdirected %d; %+v; op %d", to, j.Report().Repair, j.Report().MisdirectedOpMax, info, r.Op())
		if !info.Incomplete() || !r.Rejoining() {
			t.Fatalf("onto slot %d: a replica that acknowledged op 10 and lost it votes whole with op %d", to, r.Op())
		}
		if info.DamagedBound != 0 && info.DamagedBound < 10 {
			t.Fatalf("onto slot %d: damaged bound %d does not cover acknowledged op 10 (it nacks op 10)", to, info.DamagedBound)
		}
	}
}

// TestDeferredRottedTailNeverAcknowledged (review of damaged votes;
// safety, two storage faults on one replica): the journal in
// HeaderDeferred mode, with the tail op 10's redundant header not yet
// written when the replica loses power; while it is down bit rot hits
// prepare 10 (slot 10 then reads as an interrupted write: torn, cut) and
// prepare 4 (its redundant header intact: repair). The damage looks
// bounded at 9. That is safe only because op 10 was never acknowledged:
// persist.Adapter reports a prepare written — and the replica sends
// prepare_ok — only once its redundant header is durable (the next
// batch's sync or the adapter's header flush; mutant 43 plants the
// opposite). The test drives the adapter to that instant (op 10's batch
// durable, its header flush not completed) and checks that op 10 is not
// reported, then that recovery's bound does not need to cover it.
func TestDeferredRottedTailNeverAcknowledged(t *testing.T) {
	l, err := journal.NewLayout(journal.ConfigTest)
	if err != nil {
		t.Fatal(err)
	}
	// Every operation takes a tick: the batch's stages and the header
	// flush complete at distinct ticks.
	base := journal.NewMemoryStorage(l.Size, 1, journal.MemoryFaults{LatencyMin: 1, LatencyMax: 1})
	if err := journal.Format(base, journal.FormatOptions{Config: journal.ConfigTest, Cluster: r3Cluster, Replica: 1, ReplicaCount: 3}); err != nil {
		t.Fatal(err)
	}
	j := r3OpenDeferred(t, base)
	r3WriteOps(t, j, 9, 2, nil)
	if err := j.Flush(); err != nil { // ops 1..9: headers durable
		t.Fatal(err)
	}
	w, err := NewAdapter(j, 8)
	if err != nil {
		t.Fatal(err)
	}
	prev, _ := j.Header(9)
	msg, _ := r3Prepare(10, 0, 8, prev.Checksum)
	pool, err := wire.NewPool(1, journal.ConfigTest.MessageSizeMax)
	if err != nil {
		t.Fatal(err)
	}
	m, err := pool.Get()
	if err != nil {
		t.Fatal(err)
	}
	copy(m.Buffer, msg)
	w.WritePrepare(m)
	w.Submit()
	var got reported
	for i := 0; !w.flushing; i++ {
		if i > 1000 {
			t.Fatal("the batch of op 10 did not complete")
		}
		base.Tick() // the batch completes; the adapter submits its header flush
	}
	if w.Deliver(&got); len(got.written) != 0 {
		t.Fatalf("op 10 reported written before its redundant header was durable: %v", got.written)
	}
	base.Crash(journal.CrashLoseAll) // power lost: the header flush never lands
	r3Rot(base, &l, 10)
	r3Rot(base, &l, 4)
	r, info, _ := r3Recover(t, base)
	t.Logf("%+v; op %d", info, r.Op())
	if r.Op() > 9 {
		t.Fatalf("recovered op %d: the unacknowledged op 10 survived its rot", r.Op())
	}
}

// reported records the adapter's completions.
type reported struct{ written []uint64 }

func (r *reported) OnPrepareWritten(m *wire.Message) {
	var h wire.Header
	h.Decode(m.Buffer[:wire.HeaderSize])
	r.written = append(r.written, h.Op)
}

func (r *reported) OnPrepareRead(*wire.Message, bool) {}

// TestDeferredMisdirectedTailSurvivesRepair: the only trace of the
// acknowledged op 10 (TestDeferredMisdirectedTailDamagedBound) is its
// prepare in slot 5. The replica restarts damaged, repairs op 5 — which
// overwrites that trace — and crashes again before it holds op 10. At the
// second restart its journal holds ops 1..9 and nothing else: it must
// still not vote as if it never acknowledged op 10.
func TestDeferredMisdirectedTailSurvivesRepair(t *testing.T) {
	base := deferredJournal(t, 10, 5)
	_, info, j := r3Recover(t, base)
	if !info.Incomplete() || info.DamagedBound < 10 {
		t.Fatalf("setup: first restart %+v", info)
	}
	parent := wire.RootPrepare(r3Cluster).Checksum
	var msg5 []byte
	for op := uint64(1); op <= 5; op++ {
		msg, h := r3Prepare(op, 0, op-min(op, 2), parent)
		parent, msg5 = h.Checksum, msg
	}
	if err := j.WritePrepare(msg5); err != nil { // the repair of op 5
		t.Fatal(err)
	}
	base.Crash(journal.CrashKeepAll)
	r, info, j := r3Recover(t, base)
	t.Logf("second restart: repair %+v misdirected %d; %+v; op %d", j.Report().Repair, j.Report().MisdirectedOpMax, info, r.Op())
	if !info.Incomplete() || !r.Rejoining() {
		t.Fatalf("after repairing op 5 the replica votes whole with op %d, without the acknowledged op 10", r.Op())
	}
	if info.DamagedBound != 0 && info.DamagedBound < 10 {
		t.Fatalf("damaged bound %d does not cover acknowledged op 10", info.DamagedBound)
	}
}

// TestDamagedBoundSurvivesStartViewTruncation (review of damaged votes):
// a backup journals and acknowledges ops 1..10 in view 0 (log head 0
// recorded with log_view 0); while it is down prepare 5 rots. It restarts
// damaged (bound 10; it loads ops 1..4 only), votes damaged in view 1 —
// which makes view 1 durable with its loaded log head 4 — and the view
// starts with its vote counted. Installing start_view(1) truncates the
// journal after op 4 (ops it could not load go too, durably), and the
// replica crashes before it records log_view 1. At the next restart its
// journal is clean up to op 4 and reaches the recorded log head: before
// the fix it voted whole with log_view 0 and ops 1..4 — nacking ops 5..10
// it acknowledged, which a later view change with a replica lacking them
// could drop (before damaged votes view 1 could not start with its vote,
// so the replicas that started it held the new log_view). The damaged
// bound must be durable.
func TestDamagedBoundSurvivesStartViewTruncation(t *testing.T) {
	base, l := r3Acked(t, 0, 8)
	r3Rot(base, l, 5)
	r, info, j := r3Recover(t, base)
	if !info.Incomplete() || info.DamagedBound < 10 || r.Op() != 4 {
		t.Fatalf("setup: first restart %+v, op %d", info, r.Op())
	}
	sb := j.Superblock().VSR
	if err := j.SetVSRLog(1, sb.LogView, r.Op(), wire.Uint128{}, sb.CommitMin, sb.CommitMax); err != nil { // persistView at the vote
		t.Fatal(err)
	}
	if err := j.Truncate(4); err != nil { // installLog of start_view(1)
		t.Fatal(err)
	}
	base.Crash(journal.CrashKeepAll) // before persistView(op_min) of view 1
	r, info, _ = r3Recover(t, base)
	t.Logf("second restart: %+v; op %d", info, r.Op())
	if !info.Incomplete() || !r.Rejoining() {
		t.Fatalf("after the truncation the replica votes whole with log_view 0 and op %d, without the acknowledged ops up to 10", r.Op())
	}
	if info.DamagedBound != 0 && info.DamagedBound < 10 {
		t.Fatalf("damaged bound %d does not cover acknowledged op 10", info.DamagedBound)
	}
}
