package outbox

import (
	"bytes"
	"errors"
	"testing"

	"github.com/chronon-db/chronon/statemachine"
)

// fuzzConfig is small so that random bytes reach the limits.
var fuzzConfig = Config{EffectsMax: 6, TargetSizeMax: 16, PayloadSizeMax: 16, ResultSizeMax: 8, AttemptsMax: 4}

// FuzzRestore feeds arbitrary snapshots to Restore, each both as given and
// with its trailing checksum recomputed (so the fuzzer reaches the record
// checks behind the checksum). It must not panic; a rejected snapshot
// leaves the table empty with an error wrapping ErrSnapshot; an accepted
// one must snapshot back to the same bytes and keep the digest and Due
// consistent.
func FuzzRestore(f *testing.F) {
	f.Add(fuzzTable(f).Snapshot(nil))
	f.Add(newTestTable(f, fuzzConfig).Snapshot(nil))
	f.Add([]byte("chrnob01"))
	f.Fuzz(func(t *testing.T, data []byte) {
		fuzzRestoreOne(t, data)
		if len(data) >= snapshotHeaderSize+snapshotTrailer {
			fuzzRestoreOne(t, reseal(bytes.Clone(data)))
		}
	})
}

func fuzzRestoreOne(t *testing.T, data []byte) {
	{
		tb := newTestTable(t, fuzzConfig)
		err := tb.Restore(data)
		if err != nil {
			if !errors.Is(err, ErrSnapshot) || !errors.Is(err, statemachine.ErrInvalidInput) {
				t.Fatalf("error %v does not wrap ErrSnapshot and ErrInvalidInput", err)
			}
			if tb.Len() != 0 || tb.Stats() != (Stats{}) {
				t.Fatal("rejected snapshot left state behind")
			}
			return
		}
		if len(data) == 0 {
			return
		}
		if again := tb.Snapshot(nil); !bytes.Equal(again, data) {
			t.Fatal("accepted snapshot does not round-trip")
		}
		other := newTestTable(t, fuzzConfig)
		if err := other.Restore(data); err != nil || other.Digest() != tb.Digest() {
			t.Fatal("restore not deterministic")
		}
		due := tb.Due(nil, ^uint64(0), 100, nil)
		if len(due) != tb.Len() {
			t.Fatalf("Due returned %d of %d", len(due), tb.Len())
		}
	}
}

// FuzzApplyAck feeds arbitrary ack bodies to DecodeAcks and ApplyAck on a
// populated table, twice. Neither may panic; both must agree on validity;
// an invalid body changes nothing; a valid body re-encodes to itself; a
// replayed body applies nothing new except retries of the next attempt.
func FuzzApplyAck(f *testing.F) {
	tb := fuzzTable(f)
	due := tb.Due(nil, ^uint64(0), 10, nil)
	f.Add(AppendAckBody(nil, []Ack{{ID: due[0].ID, View: 1, Attempt: 1, Outcome: OutcomeDone, Result: []byte("ok")}}))
	f.Add(AppendAckBody(nil, []Ack{
		{ID: due[1].ID, View: 2, Attempt: due[1].Attempts + 1, Outcome: OutcomeRetry, After: 5},
		{ID: due[2].ID, View: 2, Attempt: 1, Outcome: OutcomeFailed, Reason: ReasonHTTP + 400},
	}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, body []byte) {
		tb := fuzzTable(t)
		acks, decErr := DecodeAcks(nil, body, fuzzConfig.ResultSizeMax)
		if decErr != nil && !errors.Is(decErr, ErrAckBody) {
			t.Fatalf("error %v does not wrap ErrAckBody", decErr)
		}
		if (decErr == nil) != (tb.ValidateAcks(body) == nil) {
			t.Fatal("DecodeAcks and ValidateAcks disagree")
		}
		if decErr == nil && !bytes.Equal(AppendAckBody(nil, acks), body) {
			t.Fatal("valid body does not re-encode to itself")
		}
		for round := range 2 {
			digest, stats := tb.Digest(), tb.Stats()
			var reply [AckReplySize]byte
			n := tb.ApplyAck(&statemachine.Context{Op: 50, Timestamp: 5000}, body, reply[:])
			r, ok := DecodeAckReply(reply[:n])
			if !ok {
				t.Fatal("bad reply size")
			}
			if decErr != nil {
				if r.Status != AckInvalid || tb.Digest() != digest {
					t.Fatal("invalid body applied")
				}
				return
			}
			if int(r.Applied+r.Duplicate+r.Stale+r.Unknown) != len(acks) {
				t.Fatalf("reply %+v does not account for %d acks", r, len(acks))
			}
			s := tb.Stats()
			if s.Emitted != stats.Emitted || uint64(s.Open) != s.Emitted-s.Done-s.Failed {
				t.Fatalf("stats inconsistent: %+v", s)
			}
			if r.Applied == 0 && tb.Digest() != digest {
				t.Fatal("no ack applied but the digest changed")
			}
			// The state must survive a snapshot round trip.
			other := newTestTable(t, fuzzConfig)
			if err := other.Restore(tb.Snapshot(nil)); err != nil || other.Digest() != tb.Digest() {
				t.Fatalf("round %d: snapshot after acks: %v", round, err)
			}
		}
	})
}

// fuzzTable returns a small table with pending and retrying effects.
func fuzzTable(t testing.TB) *Table {
	tb := newTestTable(t, fuzzConfig)
	ids := emit(t, tb, 1, 100, "a", "b", "c")
	emit(t, tb, 2, 200, "d")
	applyAcks(t, tb, 300, Ack{ID: ids[1], View: 1, Attempt: 1, Outcome: OutcomeRetry, Result: []byte("busy")})
	return tb
}
