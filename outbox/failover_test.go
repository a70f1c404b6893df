package outbox

import (
	"context"
	"errors"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/chronon-db/chronon/statemachine"
)

// TestFailoverMidDispatch follows docs/outbox.md's sequence: the primary of
// view 1 delivers an effect and dies before its ack commits; the primary of
// view 2 re-dispatches with token 2; the Receiver replays the stored
// response, so the handler ran once; the ack of view 2 commits on every
// replica; a late request of the old primary is fenced.
func TestFailoverMidDispatch(t *testing.T) {
	h := &countingHandler{}
	recv := openTestReceiver(t, filepath.Join(t.TempDir(), "recv.log"), h)
	srv := httptest.NewServer(recv)
	defer srv.Close()
	sink := &HTTPSink{}

	// Two replicas apply the same committed request.
	replicas := []*Table{newTestTable(t, Config{}), newTestTable(t, Config{})}
	for _, tb := range replicas {
		emit(t, tb, 1, 100, srv.URL+"/charge")
	}
	if replicas[0].Digest() != replicas[1].Digest() {
		t.Fatal("replicas diverged")
	}

	// View 1: replica 0 is primary, delivers, then crashes: its ack is
	// never submitted.
	d1 := newTestDispatcher(t, DispatcherConfig{Sink: sink})
	d1.Offer(1, replicas[0].Due(nil, 100, 10, d1.Busy))
	lost := waitAcks(t, d1, 1, 1)
	if lost[0].Outcome != OutcomeDone || h.count(lost[0].ID.String()) != 1 {
		t.Fatalf("view 1 attempt: %+v", lost[0])
	}

	// View 2: replica 1 is primary and re-dispatches what is not acked.
	d2 := newTestDispatcher(t, DispatcherConfig{Sink: sink})
	due := replicas[1].Due(nil, 100, 10, d2.Busy)
	if len(due) != 1 {
		t.Fatalf("due after failover: %d", len(due))
	}
	d2.Offer(2, due)
	acks := waitAcks(t, d2, 2, 1)
	if acks[0].Outcome != OutcomeDone || acks[0].View != 2 || string(acks[0].Result) != "applied-1" {
		t.Fatalf("view 2 attempt: %+v", acks[0])
	}
	body := AppendAckBody(nil, acks)
	for _, tb := range replicas {
		var reply [AckReplySize]byte
		tb.ApplyAck(&statemachine.Context{Op: 2, Timestamp: 200}, body, reply[:])
		if r, _ := DecodeAckReply(reply[:]); r.Applied != 1 || tb.Len() != 0 {
			t.Fatalf("ack commit: %+v", r)
		}
	}
	if replicas[0].Digest() != replicas[1].Digest() {
		t.Fatal("replicas diverged after the ack")
	}
	if n := h.count(acks[0].ID.String()); n != 1 {
		t.Fatalf("handler applied the effect %d times", n)
	}

	// The old primary's late retry with token 1 is fenced off.
	_, err := sink.Deliver(context.Background(), Delivery{ID: acks[0].ID, Key: acks[0].ID.String(), Token: 1, Attempt: 2, Target: []byte(srv.URL + "/charge")})
	if !errors.Is(err, ErrFenced) {
		t.Fatalf("late old-view delivery: %v", err)
	}
	// Had its ack been submitted anyway, it would be a no-op now.
	var reply [AckReplySize]byte
	replicas[0].ApplyAck(&statemachine.Context{Op: 3, Timestamp: 300}, AppendAckBody(nil, lost), reply[:])
	if r, _ := DecodeAckReply(reply[:]); r.Unknown != 1 {
		t.Fatalf("late ack: %+v", r)
	}
}
