package replica

import (
	"testing"

	"github.com/chronon-db/chronon/wire"
)

// voteSpec and setVotes build, on a replica, the do_view_change votes of a
// view change: chain is a hash chain of headers for ops 1..len(chain); each
// vote holds the prefix up to held and knows headers up to op.
type voteSpec struct {
	logView    uint32
	op, held   uint64
	commit     uint64
	maybeAcked uint64 // 0: whole journal
	anchor     uint64 // a damaged vote's log anchor: op of chain (0: none)
}

func setVotes(r *Replica, chain []wire.Header, votes map[int]voteSpec) {
	for i := range r.vc.dvcs {
		r.vc.dvcs[i].received = false
	}
	for i, v := range votes {
		d := &r.vc.dvcs[i]
		d.received, d.logView, d.op, d.held, d.commit, d.maybeAcked = true, v.logView, v.op, v.held, v.commit, v.maybeAcked
		d.headers = append(d.headers[:0], chain[:v.op]...)
		d.anchor = wire.Uint128{}
		if v.anchor > 0 {
			d.anchor = chain[v.anchor-1].Checksum
		}
	}
}

func testChain(n int) []wire.Header {
	chain := make([]wire.Header, n)
	for i := range chain {
		chain[i].Op = uint64(i + 1)
		chain[i].Checksum = wire.Uint128{Lo: uint64(1000 + i), Hi: 7}
		if i > 0 {
			chain[i].Parent = chain[i-1].Checksum
		}
	}
	return chain
}

// TestDamagedVoteNeverTruncates: an op of the chosen log that no whole
// journal holds is truncated only when no damaged vote may have
// acknowledged it (the safety rule of damaged votes: a committed op was
// held durably by a quorum, one of which voted, and a damaged voter names
// every op it may have acknowledged).
func TestDamagedVoteNeverTruncates(t *testing.T) {
	r := newOne(t, 3, 0, nil).r
	chain := testChain(12)
	// Primary-elect 0 knows ops up to 12 but holds only up to 9 (a backup
	// that installed a start_view); replica 2 voted whole up to 8.
	setVotes(r, chain, map[int]voteSpec{0: {logView: 2, op: 12, held: 9, commit: 5}, 2: {logView: 1, op: 8, held: 8, commit: 5}})
	if got := r.availableHead(&r.vc.dvcs[0], 5); got != 9 {
		t.Fatalf("whole votes: available head %d, want 9", got)
	}
	// Replica 2 instead damaged, may have acknowledged up to 11: 10 and 11
	// stay (the install waits for them), 12 goes.
	setVotes(r, chain, map[int]voteSpec{0: {logView: 2, op: 12, held: 9, commit: 5}, 2: {logView: 1, op: 4, held: 4, commit: 5, maybeAcked: 11}})
	if got := r.availableHead(&r.vc.dvcs[0], 5); got != 11 {
		t.Fatalf("damaged vote up to 11: available head %d, want 11", got)
	}
	// The ops a damaged vote may hold count for start_view's op_min too.
	setVotes(r, chain, map[int]voteSpec{0: {logView: 2, op: 12, held: 12, commit: 5}, 1: {logView: 2, op: 6, held: 6, commit: 5}, 2: {logView: 1, op: 4, held: 4, commit: 5, maybeAcked: 10}})
	if got := r.possiblyCommittedHead(&r.vc.dvcs[0], 5, 12); got != 10 {
		t.Fatalf("op_min with a damaged vote up to 10: %d, want 10", got)
	}
	// A damaged voter holding a different op at a position (an op of an
	// abandoned log) may still have acknowledged the chosen one there.
	other := testChain(12)
	for i := range other {
		other[i].Checksum.Hi = 8
	}
	setVotes(r, chain, map[int]voteSpec{0: {logView: 2, op: 12, held: 9, commit: 5}, 2: {logView: 1, op: 11, held: 11, commit: 5, maybeAcked: 11}})
	r.vc.dvcs[2].headers = append(r.vc.dvcs[2].headers[:0], other[:11]...)
	if got := r.availableHead(&r.vc.dvcs[0], 5); got != 11 {
		t.Fatalf("damaged vote holding other ops: available head %d, want 11", got)
	}
}

// TestDamagedVoteNeverSuppliesTheLog: the new log comes from a whole
// journal that covers every damaged vote: a damaged vote of a higher
// log_view, or of the same log_view with ops it may have acknowledged (or
// a commit number) above the whole log's head, makes the install wait.
func TestDamagedVoteNeverSuppliesTheLog(t *testing.T) {
	r := newOne(t, 3, 0, nil).r
	chain := testChain(12)
	for _, tc := range []struct {
		name string
		d    voteSpec
		want int
	}{
		{"lower log_view", voteSpec{logView: 1, op: 4, held: 4, commit: 3, maybeAcked: 12}, 0},
		{"same log_view, covered", voteSpec{logView: 2, op: 4, held: 4, commit: 3, maybeAcked: 10}, 0},
		{"same log_view, acknowledged above", voteSpec{logView: 2, op: 4, held: 4, commit: 3, maybeAcked: 11}, -1},
		{"higher log_view", voteSpec{logView: 3, op: 4, held: 4, commit: 3, maybeAcked: 4}, -1},
		{"commit above", voteSpec{logView: 1, op: 4, held: 4, commit: 11, maybeAcked: 11}, -1},
	} {
		setVotes(r, chain, map[int]voteSpec{0: {logView: 2, op: 10, held: 10, commit: 3}, 1: tc.d})
		if got := r.bestLog(); got != tc.want {
			t.Errorf("%s: best log %d, want %d", tc.name, got, tc.want)
		}
	}
	// A damaged vote of a higher log_view whose log anchor the whole log
	// holds (both logs agree up to it, by the hash chain): the whole log
	// may stand for it when nothing above the anchor may have committed
	// (vopr --power-loss seeds 6904, 7271 and 7332 stalled for good).
	otherLog := testChain(12)
	for i := range otherLog {
		otherLog[i].Checksum.Hi = 8
	}
	for _, tc := range []struct {
		name  string
		d     voteSpec
		other bool // the anchor is from another log
		v2    *voteSpec
		want  int
	}{
		{"anchor held, bound at the anchor", voteSpec{logView: 3, op: 4, held: 4, commit: 3, maybeAcked: 9, anchor: 9}, false, nil, 0},
		{"anchor held, bound above it", voteSpec{logView: 3, op: 4, held: 4, commit: 3, maybeAcked: 10, anchor: 6}, false, nil, -1},
		{"anchor of another log", voteSpec{logView: 3, op: 4, held: 4, commit: 3, maybeAcked: 9, anchor: 9}, true, nil, -1},
		{"anchor above the whole log", voteSpec{logView: 3, op: 4, held: 4, commit: 3, maybeAcked: 11, anchor: 11}, false, nil, -1},
		{"bound above the anchor, op after it uncommittable", voteSpec{logView: 3, op: 4, held: 4, commit: 3, maybeAcked: 11, anchor: 10},
			false, &voteSpec{logView: 1, op: 5, held: 5, commit: 3}, 0},
	} {
		votes := map[int]voteSpec{0: {logView: 2, op: 10, held: 10, commit: 3}, 1: tc.d}
		if tc.v2 != nil {
			votes[2] = *tc.v2
		}
		setVotes(r, chain, votes)
		if tc.other {
			r.vc.dvcs[1].anchor = otherLog[tc.d.anchor-1].Checksum
		}
		if got := r.bestLog(); got != tc.want {
			t.Errorf("higher log_view, %s: best log %d, want %d", tc.name, got, tc.want)
		}
	}
	// The longest whole log of the highest log_view wins, as without
	// damaged votes.
	setVotes(r, chain, map[int]voteSpec{0: {logView: 2, op: 10, held: 10, commit: 3}, 1: {logView: 2, op: 4, held: 4, commit: 3, maybeAcked: 11}, 2: {logView: 2, op: 11, held: 11, commit: 3}})
	if got := r.bestLog(); got != 2 {
		t.Errorf("whole log 2 covers the damaged vote: best %d, want 2", got)
	}
}

// TestDamagedVoteAboveUncommittableOps (simulator seeds 3545 and 3684 with
// power losses): every replica voted, the only whole journal ends at op 10
// and a damaged voter of the same log_view may have acknowledged up to 11.
// Op 11 may have committed only if a quorum may hold it; when the damaged
// voter is the only one, the whole log is installed (op 11 was never
// committed) rather than waiting for a vote that never changes.
func TestDamagedVoteAboveUncommittableOps(t *testing.T) {
	r := newOne(t, 3, 0, nil).r
	chain := testChain(12)
	whole := voteSpec{logView: 2, op: 10, held: 10, commit: 3}
	for _, tc := range []struct {
		name string
		v1   voteSpec
		v2   *voteSpec // nil: replica 2 did not vote
		want int
	}{
		{"only the damaged voter may hold op 11", voteSpec{logView: 2, op: 11, held: 11, commit: 3, maybeAcked: 11},
			&voteSpec{logView: 2, op: 4, held: 4, commit: 3, maybeAcked: 10}, 0},
		{"second damaged voter may hold op 11 too", voteSpec{logView: 2, op: 11, held: 11, commit: 3, maybeAcked: 11},
			&voteSpec{logView: 2, op: 4, held: 4, commit: 3, maybeAcked: 11}, -1},
		{"the replica that did not vote may hold op 11", voteSpec{logView: 2, op: 11, held: 11, commit: 3, maybeAcked: 11},
			nil, -1},
		{"whole voter of a lower log_view reaches op 11", voteSpec{logView: 2, op: 11, held: 11, commit: 3, maybeAcked: 11},
			&voteSpec{logView: 1, op: 11, held: 11, commit: 3}, -1},
	} {
		votes := map[int]voteSpec{0: whole, 1: tc.v1}
		if tc.v2 != nil {
			votes[2] = *tc.v2
		}
		setVotes(r, chain, votes)
		if got := r.bestLog(); got != tc.want {
			t.Errorf("%s: best log %d, want %d", tc.name, got, tc.want)
		}
	}
}
