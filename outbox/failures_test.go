package outbox

import (
	"bytes"
	"testing"
)

func TestFailuresKeepTheMostRecent(t *testing.T) {
	for _, tc := range []struct {
		keep, want int
	}{{2, 2}, {-1, 0}, {0, 3}} {
		tb := newTestTable(t, Config{EffectsMax: 8, FailedKeep: tc.keep})
		ids := emit(t, tb, 1, 100, "a", "b", "c")
		for i, id := range ids {
			applyAcks(t, tb, uint64(200+i), Ack{ID: id, View: 1, Attempt: 1, Outcome: OutcomeFailed, Reason: Reason(10 + i)})
		}
		kept := tb.Failed(nil)
		if len(kept) != tc.want || tb.Stats().Kept != tc.want || tb.Stats().Failed != 3 {
			t.Fatalf("keep %d: kept %d, stats %+v", tc.keep, len(kept), tb.Stats())
		}
		// The oldest failures went first.
		for k, e := range kept {
			want := ids[len(ids)-tc.want+k]
			if e.ID != want || e.State != StateFailed || string(e.Payload) != "payload:"+string(e.Target) {
				t.Fatalf("keep %d: kept[%d] = %+v", tc.keep, k, e)
			}
		}
		// Snapshot and restore keep them, in order, with the same digest.
		snap := tb.Snapshot(nil)
		back := newTestTable(t, Config{EffectsMax: 8, FailedKeep: tc.keep})
		if err := back.Restore(snap); err != nil {
			t.Fatal(err)
		}
		if back.Digest() != tb.Digest() || !bytes.Equal(back.Snapshot(nil), snap) {
			t.Fatalf("keep %d: restore changed the table", tc.keep)
		}
		// A table that keeps fewer refuses the snapshot rather than cutting.
		if tc.want > 1 {
			small := newTestTable(t, Config{EffectsMax: 8, FailedKeep: 1})
			if err := small.Restore(snap); err == nil {
				t.Fatalf("keep %d: a table keeping 1 restored %d failures", tc.keep, tc.want)
			}
		}
	}
}

func TestFailuresChangeTheDigest(t *testing.T) {
	a := newTestTable(t, Config{EffectsMax: 8})
	b := newTestTable(t, Config{EffectsMax: 8, FailedKeep: -1})
	for _, tb := range []*Table{a, b} {
		ids := emit(t, tb, 1, 100, "a")
		if r := applyAcks(t, tb, 200, Ack{ID: ids[0], View: 1, Attempt: 1, Outcome: OutcomeFailed, Reason: ReasonRejected}); r.Applied != 1 {
			t.Fatalf("ack %+v", r)
		}
	}
	if a.Digest() == b.Digest() {
		t.Fatal("a kept failure does not show in the digest")
	}
}
