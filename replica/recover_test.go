package replica

import (
	"errors"
	"slices"
	"testing"

	"github.com/chronon-db/chronon/wire"
)

// TestDecideVoteTable checks the recovery decision table: each kind of
// damage, alone, gives its reason, and a damaged vote when bounded (no slot
// of unknown op, no op cut) or no vote otherwise; when several apply, the
// first in the order of Damage is the reason.
func TestDecideVoteTable(t *testing.T) {
	cases := []struct {
		name string
		d    damageFound
		vote Vote
		why  Damage
	}{
		{"whole", damageFound{opMax: 10, logHead: 10}, VoteWhole, DamageNone},
		{"whole above log head", damageFound{opMax: 12, logHead: 10}, VoteWhole, DamageNone},
		{"checkpoint", damageFound{checkpointDamaged: true, opMax: 10, logHead: 10}, VoteDamaged, DamageCheckpoint},
		{"unreadable", damageFound{unreadableOp: true, opMax: 10}, VoteDamaged, DamageUnreadableOp},
		{"repair", damageFound{repairs: 2, opMax: 10}, VoteDamaged, DamageRepair},
		{"chain break", damageFound{chainBreak: 7, opMax: 10}, VoteDamaged, DamageChainBreak},
		{"faulty slot", damageFound{unknownSlots: 1, opMax: 10}, VoteWithheld, DamageFaultySlot},
		{"cut", damageFound{cut: 2, opMax: 10}, VoteWithheld, DamageCut},
		{"below log head", damageFound{opMax: 9, logHead: 10}, VoteDamaged, DamageBelowLogHead},
		{"repair before cut", damageFound{repairs: 1, cut: 1, opMax: 10}, VoteWithheld, DamageRepair},
		{"checkpoint before faulty", damageFound{checkpointDamaged: true, unknownSlots: 1}, VoteWithheld, DamageCheckpoint},
		{"chain break before below log head", damageFound{chainBreak: 3, opMax: 5, logHead: 8}, VoteDamaged, DamageChainBreak},
	}
	for _, c := range cases {
		vote, why := decideVote(c.d)
		if vote != c.vote || why != c.why {
			t.Errorf("%s: %v, %q; want %v, %q", c.name, vote, why, c.vote, c.why)
		}
	}
}

// TestDamageNames: the reasons print as logs and the simulator's trace
// have always named them.
func TestDamageNames(t *testing.T) {
	want := map[Damage]string{
		DamageNone: "", DamageCheckpoint: "checkpoint_damaged", DamageUnreadableOp: "unreadable_op",
		DamageRepair: "repair", DamageChainBreak: "chain_break", DamageFaultySlot: "faulty_slot",
		DamageCut: "cut", DamageBelowLogHead: "below_log_head",
	}
	for d, name := range want {
		if d.String() != name {
			t.Errorf("damage %d prints %q, want %q", uint8(d), d.String(), name)
		}
	}
	for v, name := range map[Vote]string{VoteWhole: "whole", VoteDamaged: "damaged", VoteWithheld: "withheld"} {
		if v.String() != name {
			t.Errorf("vote %d prints %q, want %q", uint8(v), v.String(), name)
		}
	}
}

// memRecovery is a RecoveryJournal over the durable prepares of a
// one-replica run; unreadable names an op whose header it holds but whose prepare
// it cannot read (0: none).
type memRecovery struct {
	stored     map[uint64][]byte
	wcfg       wire.Config
	unreadable uint64
	raised     []uint64 // RaiseLogHead calls
}

func (m *memRecovery) Header(op uint64) (wire.Header, bool) {
	data, ok := m.stored[op]
	if !ok {
		return wire.Header{}, false
	}
	var h wire.Header
	h.Decode(data)
	return h, true
}

func (m *memRecovery) ReadPrepare(op uint64, msg *wire.Message, h *wire.Header) bool {
	data, ok := m.stored[op]
	if !ok || op == m.unreadable {
		return false
	}
	copy(msg.Buffer, data)
	return wire.DecodeHeader(msg.Buffer, h, &m.wcfg) == nil
}

func (m *memRecovery) RaiseLogHead(op uint64) error {
	m.raised = append(m.raised, op)
	return nil
}

// CheckpointRemains: the run's journal holds no checkpoint.
func (m *memRecovery) CheckpointRemains() (CheckpointBlobs, CheckpointSizes) {
	return CheckpointBlobs{}, CheckpointSizes{}
}

// TestRecoverOutcomes recovers a backup from the journal of a run (the
// prepares a single replica wrote), with each kind of damage reported as a typed input, and checks the
// outcome: reason, vote, bound, what was replayed, and the durable log head
// raised where the rules say so.
func TestRecoverOutcomes(t *testing.T) {
	run := newOne(t, 1, 0, nil)
	run.requests(2, 4)
	stored := run.j.stored
	var opMax uint64
	for op := range stored {
		opMax = max(opMax, op)
	}
	if opMax < 6 {
		t.Fatalf("setup: op max %d", opMax)
	}
	start := func(edit func(*Recovered, *memRecovery)) (*Replica, RecoveryOutcome, *memRecovery) {
		t.Helper()
		r := newOne(t, 3, 1, nil).r // a backup
		mr := &memRecovery{stored: stored, wcfg: r.wcfg}
		rec := Recovered{LogOp: opMax, CommitMax: opMax - 2, Started: true, OpMax: opMax, Journal: mr}
		edit(&rec, mr)
		out, err := r.Recover(&rec)
		if err != nil {
			t.Fatal(err)
		}
		return r, out, mr
	}
	type want struct {
		vote   Vote
		why    Damage
		bound  uint64
		op     uint64 // the replica's op after replay
		raised []uint64
	}
	cases := []struct {
		name string
		edit func(*Recovered, *memRecovery)
		want want
	}{
		{"whole", func(*Recovered, *memRecovery) {}, want{VoteWhole, DamageNone, 0, opMax, nil}},
		{"checkpoint", func(rec *Recovered, _ *memRecovery) {
			rec.CheckpointOp, rec.CheckpointDamaged = 2, errors.New("grid block 3 fails its checksum")
		}, want{VoteDamaged, DamageCheckpoint, opMax, opMax, nil}},
		{"unreadable op", func(_ *Recovered, mr *memRecovery) { mr.unreadable = 4 }, want{VoteDamaged, DamageUnreadableOp, opMax, 3, nil}},
		{"repair", func(rec *Recovered, mr *memRecovery) { rec.Repairs = 1 }, want{VoteDamaged, DamageRepair, opMax, opMax, nil}},
		{"chain break", func(rec *Recovered, _ *memRecovery) { rec.ChainBreak = 5 }, want{VoteDamaged, DamageChainBreak, opMax, 4, nil}},
		{"faulty slot", func(rec *Recovered, _ *memRecovery) { rec.UnknownSlots = 1 }, want{VoteWithheld, DamageFaultySlot, 0, opMax, nil}},
		{"cut", func(rec *Recovered, _ *memRecovery) { rec.Cut = 2 }, want{VoteWithheld, DamageCut, 0, opMax, nil}},
		{"below log head", func(rec *Recovered, _ *memRecovery) { rec.LogOp = opMax + 3 }, want{VoteDamaged, DamageBelowLogHead, opMax + 3, opMax, nil}},
		{"misdirected above the journal", func(rec *Recovered, _ *memRecovery) { rec.MisdirectedOpMax = opMax + 2 },
			want{VoteDamaged, DamageBelowLogHead, opMax + 2, opMax, []uint64{opMax + 2}}},
		{"damaged bound above the log head", func(rec *Recovered, _ *memRecovery) { rec.LogOp, rec.Repairs = 2, 1 },
			want{VoteDamaged, DamageRepair, opMax, opMax, []uint64{opMax}}},
	}
	for _, tc := range cases {
		r, out, mr := start(tc.edit)
		w := tc.want
		if out.Vote != w.vote || out.Damage != w.why || out.DamagedBound != w.bound || r.Op() != w.op || !slices.Equal(mr.raised, w.raised) {
			t.Errorf("%s: vote %v damage %q bound %d op %d raised %v; want %v %q %d %d %v",
				tc.name, out.Vote, out.Damage, out.DamagedBound, r.Op(), mr.raised, w.vote, w.why, w.bound, w.op, w.raised)
			continue
		}
		if !out.Restarted || out.Incomplete() != (w.why != DamageNone) || r.Rejoining() != (w.vote != VoteWhole) {
			t.Errorf("%s: restarted %v incomplete %v rejoining %v", tc.name, out.Restarted, out.Incomplete(), r.Rejoining())
		}
		if out.Replayed+out.Prepared != r.Op() {
			t.Errorf("%s: replayed %d + prepared %d, op %d", tc.name, out.Replayed, out.Prepared, r.Op())
		}
		if len(w.raised) > 0 && r.logHead != w.raised[len(w.raised)-1] {
			t.Errorf("%s: log head %d after raising it to %d", tc.name, r.logHead, w.raised[len(w.raised)-1])
		}
		if w.vote == VoteDamaged && (!r.rejoin.damaged || r.rejoin.maybeAcked != w.bound) {
			t.Errorf("%s: rejoin state %+v, want damaged votes bounded by %d", tc.name, r.rejoin, w.bound)
		}
	}

	r, out, _ := start(func(rec *Recovered, _ *memRecovery) { rec.Rejoining = true })
	if !out.Rejoining || out.Vote != VoteWhole || !r.Rejoining() || r.Status() != StatusRecovering {
		t.Errorf("rejoining data file: outcome %+v, status %v", out, r.Status())
	}
	r, out, _ = start(func(rec *Recovered, _ *memRecovery) {
		rec.Started, rec.OpMax, rec.LogOp, rec.CommitMax = false, 0, 0, 0
	})
	if out.Restarted || out.Replayed+out.Prepared != 0 || r.Status() != StatusNormal || out.Vote != VoteWhole {
		t.Errorf("fresh data file: outcome %+v, status %v", out, r.Status())
	}
	defer func() {
		if recover() == nil {
			t.Error("a second Recover did not panic")
		}
	}()
	_, _ = r.Recover(&Recovered{Journal: &memRecovery{}})
}

// TestRecoverDurableViewIsARestart: a data file that holds nothing but a
// durable view (a replica voted in a view change and crashed before it
// held any op, on a file not yet marked started) is a restart: the replica
// must not lead that view as if the file were new. Each other
// trace of an earlier run counts too; a new file does not.
func TestRecoverDurableViewIsARestart(t *testing.T) {
	for _, c := range []struct {
		name    string
		rec     Recovered
		restart bool
	}{
		{"new file", Recovered{}, false},
		{"durable view only", Recovered{View: 1}, true},
		{"marked started", Recovered{Started: true}, true},
		{"commit number only", Recovered{CommitMax: 1, LogOp: 1}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := newOne(t, 3, 1, nil).r
			rec := c.rec
			rec.Journal = &memRecovery{stored: map[uint64][]byte{}, wcfg: r.wcfg}
			out, err := r.Recover(&rec)
			if err != nil {
				t.Fatal(err)
			}
			if out.Restarted != c.restart {
				t.Fatalf("restarted %v, want %v", out.Restarted, c.restart)
			}
			if rec.View == 1 && r.Status() == StatusNormal {
				// Replica 1 is the primary of view 1: as a new file it
				// would lead that view from op 1 again.
				t.Fatalf("replica 1 restarted with only view 1 durable starts normal in it")
			}
		})
	}
}
