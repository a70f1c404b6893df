package outbox

import (
	"bytes"
	"errors"
	"testing"

	"github.com/chronon-db/chronon/wire"
)

// queryAll pages through every effect matching filter with pages of limit
// records and a reply buffer of replySize bytes.
func queryAll(t *testing.T, tb *Table, filter QueryFilter, limit uint32, replySize int) ([]Effect, Stats) {
	t.Helper()
	var all []Effect
	var stats Stats
	q := Query{Filter: filter, Limit: limit}
	for pages := 0; ; pages++ {
		if pages > 100 {
			t.Fatal("paging does not end")
		}
		reply := make([]byte, replySize)
		n := tb.Query(AppendQuery(nil, q), reply)
		r, err := DecodeQueryReply(nil, testCluster, filter, reply[:n])
		if err != nil || r.Status != QueryOK {
			t.Fatalf("decode: %v status %d", err, r.Status)
		}
		all = append(all, r.Effects...)
		stats = r.Stats
		if !r.More {
			return all, stats
		}
		last := r.Effects[len(r.Effects)-1]
		q.AfterOp, q.AfterIndex = last.Op, last.Index
	}
}

func TestQueryListsOpenAndFailedEffects(t *testing.T) {
	tb := newTestTable(t, Config{EffectsMax: 16})
	ids := emit(t, tb, 5, 100, "a", "b", "c")
	late := emit(t, tb, 2, 200, "d", "e")
	applyAcks(t, tb, 300,
		Ack{ID: ids[0], View: 1, Attempt: 1, Outcome: OutcomeDone},
		Ack{ID: ids[1], View: 1, Attempt: 1, Outcome: OutcomeFailed, Reason: ReasonHTTP + 400, Result: []byte("bad request")},
		Ack{ID: late[0], View: 1, Attempt: 1, Outcome: OutcomeRetry, Result: []byte("busy")})
	for _, tc := range []struct {
		name      string
		limit     uint32
		replySize int
	}{
		{"one page", 0, 64 << 10},
		{"limit 1", 1, 64 << 10},
		{"small buffer", 0, QueryReplyHeaderSize + 100},
	} {
		t.Run(tc.name, func(t *testing.T) {
			open, stats := queryAll(t, tb, QueryOpen, tc.limit, tc.replySize)
			if stats != tb.Stats() {
				t.Fatalf("stats %+v, table %+v", stats, tb.Stats())
			}
			// Ordered by (op, index): op 2's effects first.
			want := []wire.Uint128{late[0], late[1], ids[2]}
			if len(open) != len(want) {
				t.Fatalf("open %d effects, want %d", len(open), len(want))
			}
			for i, e := range open {
				got, _ := tb.Get(want[i])
				if e.ID != want[i] || e.State != got.State || !bytes.Equal(e.Target, got.Target) ||
					!bytes.Equal(e.Payload, got.Payload) || !bytes.Equal(e.Result, got.Result) {
					t.Fatalf("open[%d] = %+v, want %+v", i, e, got)
				}
			}
			failed, _ := queryAll(t, tb, QueryFailed, tc.limit, tc.replySize)
			if len(failed) != 1 || failed[0].ID != ids[1] || failed[0].Reason != ReasonHTTP+400 ||
				string(failed[0].Result) != "bad request" || string(failed[0].Target) != "b" {
				t.Fatalf("failed %+v", failed)
			}
		})
	}
}

func TestQueryRejectsMalformedBodies(t *testing.T) {
	tb := newTestTable(t, Config{})
	good := AppendQuery(nil, Query{Filter: QueryOpen})
	for name, body := range map[string][]byte{
		"empty":     nil,
		"short":     good[:QuerySize-1],
		"filter 0":  AppendQuery(nil, Query{}),
		"filter 3":  AppendQuery(nil, Query{Filter: 3}),
		"reserved":  func() []byte { b := bytes.Clone(good); b[2] = 1; return b }(),
		"reserved2": func() []byte { b := bytes.Clone(good); b[23] = 1; return b }(),
	} {
		reply := make([]byte, QueryReplyHeaderSize)
		n := tb.Query(body, reply)
		r, err := DecodeQueryReply(nil, testCluster, QueryOpen, reply[:n])
		if err != nil || r.Status != QueryInvalid {
			t.Errorf("%s: status %d err %v", name, r.Status, err)
		}
	}
}

func TestDecodeQueryReplyRejectsCorruption(t *testing.T) {
	tb := populated(t)
	reply := make([]byte, 4096)
	n := tb.Query(AppendQuery(nil, Query{Filter: QueryOpen}), reply)
	good := reply[:n]
	if _, err := DecodeQueryReply(nil, testCluster, QueryOpen, good); err != nil {
		t.Fatal(err)
	}
	rec := QueryReplyHeaderSize
	for name, b := range map[string][]byte{
		"short":         good[:10],
		"count":         func() []byte { b := bytes.Clone(good); b[36]++; return b }(),
		"more":          func() []byte { b := bytes.Clone(good); b[40] = 2; return b }(),
		"reserved":      func() []byte { b := bytes.Clone(good); b[47] = 1; return b }(),
		"status":        func() []byte { b := bytes.Clone(good); b[32] = 9; return b }(),
		"id":            func() []byte { b := bytes.Clone(good); b[rec]++; return b }(),
		"trailing":      append(bytes.Clone(good), 0),
		"open as fail":  nil, // filled below
		"other cluster": good,
	} {
		cluster, filter := testCluster, QueryOpen
		switch name {
		case "open as fail":
			b, filter = good, QueryFailed
		case "other cluster":
			cluster = wire.Uint128{Lo: 1}
		}
		if _, err := DecodeQueryReply(nil, cluster, filter, b); !errors.Is(err, ErrQueryReply) {
			t.Errorf("%s: err %v", name, err)
		}
	}
}

func TestQueryDoesNotAllocate(t *testing.T) {
	tb := populated(t)
	body := AppendQuery(nil, Query{Filter: QueryOpen})
	reply := make([]byte, 4096)
	if a := testing.AllocsPerRun(100, func() { tb.Query(body, reply) }); a != 0 {
		t.Fatalf("%v allocs per query", a)
	}
}

func FuzzDecodeQueryReply(f *testing.F) {
	tb := populated(&testing.T{})
	for _, filter := range []QueryFilter{QueryOpen, QueryFailed} {
		reply := make([]byte, 4096)
		f.Add(reply[:tb.Query(AppendQuery(nil, Query{Filter: filter}), reply)], uint8(filter))
	}
	f.Fuzz(func(t *testing.T, b []byte, filter uint8) {
		r, err := DecodeQueryReply(nil, testCluster, QueryFilter(filter), b)
		if err != nil {
			return
		}
		for _, e := range r.Effects {
			if e.ID != EffectID(testCluster, e.Op, e.Index) {
				t.Fatal("decoded an effect whose id does not derive from its op and index")
			}
		}
	})
}

// FuzzTableQuery answers arbitrary query bodies into replies of arbitrary
// room: Query must not panic, and its reply must decode with the table's
// counters and only effects after the cursor, in order.
func FuzzTableQuery(f *testing.F) {
	f.Add(AppendQuery(nil, Query{Filter: QueryOpen}), uint16(4096))
	f.Add(AppendQuery(nil, Query{Filter: QueryFailed, Limit: 1}), uint16(QueryReplyHeaderSize+70))
	f.Add([]byte{1, 0, 0, 0}, uint16(QueryReplyHeaderSize))
	tb := populated(&testing.T{})
	f.Fuzz(func(t *testing.T, body []byte, room uint16) {
		reply := make([]byte, QueryReplyHeaderSize+int(room))
		n := tb.Query(body, reply)
		filter := QueryOpen
		if len(body) > 0 && QueryFilter(body[0]) == QueryFailed {
			filter = QueryFailed
		}
		r, err := DecodeQueryReply(nil, testCluster, filter, reply[:n])
		if err != nil {
			t.Fatalf("the table's own reply does not decode: %v", err)
		}
		if r.Stats != tb.Stats() {
			t.Fatalf("stats %+v, table %+v", r.Stats, tb.Stats())
		}
		q, ok := decodeQuery(body)
		if !ok {
			if r.Status != QueryInvalid || len(r.Effects) != 0 {
				t.Fatalf("malformed body answered with status %d and %d effects", r.Status, len(r.Effects))
			}
			return
		}
		prevOp, prevIndex := q.AfterOp, q.AfterIndex
		for k, e := range r.Effects {
			if e.Op < prevOp || (e.Op == prevOp && e.Index <= prevIndex) {
				t.Fatalf("effect %d (%d,%d) not after (%d,%d)", k, e.Op, e.Index, prevOp, prevIndex)
			}
			prevOp, prevIndex = e.Op, e.Index
		}
		if q.Limit > 0 && uint32(len(r.Effects)) > q.Limit {
			t.Fatalf("%d effects for limit %d", len(r.Effects), q.Limit)
		}
	})
}
