package outbox

import (
	"context"
	"testing"
	"time"

	"github.com/chronon-db/chronon/wire"
)

// heldTransport keeps the attempts started; the test completes them.
type heldTransport struct{ started []*Attempt }

func (t *heldTransport) Start(a *Attempt)            { t.started = append(t.started, a) }
func (t *heldTransport) Close(context.Context) error { return nil }

// stepReplica is the replica state Step reads, and the ack bodies it took.
type stepReplica struct {
	view            uint32
	primary, normal bool
	refuse          bool
	bodies          [][]byte
}

func (r *stepReplica) View() uint32    { return r.view }
func (r *stepReplica) IsPrimary() bool { return r.primary }
func (r *stepReplica) Normal() bool    { return r.normal }
func (r *stepReplica) SubmitLocal(op wire.Operation, b []byte) bool {
	if r.refuse || op != wire.OperationOutboxAck {
		return false
	}
	r.bodies = append(r.bodies, append([]byte(nil), b...))
	return true
}

// TestDispatcherStepPolicy: Step dispatches only as the normal primary,
// with its view as the token; outcomes become acks of that view only; a
// new view fences off the old attempts; the clock and the transport are
// the caller's, so the test is deterministic.
func TestDispatcherStepPolicy(t *testing.T) {
	tb := newTestTable(t, Config{})
	ids := emit(t, tb, 1, 100, "a", "b")
	tr := &heldTransport{}
	now := time.Unix(0, 100)
	d, err := NewDispatcher(DispatcherConfig{Transport: tr, Logger: quietLog, AckTimeout: time.Second, Now: func() time.Time { return now }})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close(context.Background())

	for _, r := range []*stepReplica{
		{view: 3, primary: false, normal: true}, // a backup
		{view: 3, primary: true, normal: false}, // primary-elect in view change
	} {
		d.Step(r, tb)
		if len(tr.started) != 0 {
			t.Fatalf("dispatched while primary=%v normal=%v: %+v", r.primary, r.normal, tr.started[0].Delivery)
		}
	}
	r := &stepReplica{view: 3, primary: true, normal: true}
	d.Step(r, tb)
	if len(tr.started) != 2 {
		t.Fatalf("normal primary started %d attempts, want 2", len(tr.started))
	}
	for i, a := range tr.started {
		if a.ID != ids[i] || a.Token != 3 || a.Attempt != 1 || a.Key != ids[i].String() {
			t.Fatalf("attempt %d: %+v", i, a.Delivery)
		}
	}
	d.Step(r, tb)
	if len(tr.started) != 2 {
		t.Fatal("an effect in flight was dispatched again")
	}

	// One outcome arrives in view 3 and is submitted as an ack of view 3.
	d.Complete(tr.started[0], []byte("ok"), nil)
	d.Step(r, tb)
	if len(r.bodies) != 1 {
		t.Fatalf("%d ack bodies submitted", len(r.bodies))
	}
	acks, err := DecodeAcks(nil, r.bodies[0], SizeLimit)
	if err != nil || len(acks) != 1 || acks[0].ID != ids[0] || acks[0].View != 3 || acks[0].Outcome != OutcomeDone {
		t.Fatalf("acks %+v, %v", acks, err)
	}

	// View 4 (another replica leads): the view-3 attempt still out is
	// cancelled and its outcome dropped; nothing is submitted as a backup.
	r.view, r.primary = 4, false
	d.Step(r, tb)
	if tr.started[1].Ctx.Err() == nil {
		t.Fatal("the view-3 attempt was not cancelled")
	}
	d.Complete(tr.started[1], []byte("late"), nil)
	r.view, r.primary = 7, true // leads again in view 7
	d.Step(r, tb)
	if len(r.bodies) != 1 || d.Stats().Dropped != 1 {
		t.Fatalf("a view-3 outcome was acknowledged later: %d bodies, stats %+v", len(r.bodies), d.Stats())
	}
	// Both effects are open in the table (the ack never committed): the
	// view-7 primary dispatches them again with token 7.
	if len(tr.started) != 4 || tr.started[2].Token != 7 || tr.started[3].Token != 7 {
		t.Fatalf("re-dispatch in view 7: %d attempts", len(tr.started))
	}

	// A refused ack body is counted and kept: the effect stays busy, even
	// past the ack timeout, and the next Step submits the ack again.
	r.refuse = true
	d.Complete(tr.started[2], nil, nil)
	d.Step(r, tb)
	now = now.Add(2 * time.Second)
	d.Step(r, tb)
	if s := d.Stats(); s.AcksRefused != 2 || len(tr.started) != 4 || len(r.bodies) != 1 {
		t.Fatalf("refused ack: %+v, %d attempts, %d bodies", s, len(tr.started), len(r.bodies))
	}
	r.refuse = false
	d.Step(r, tb)
	if len(r.bodies) != 2 || len(tr.started) != 4 {
		t.Fatalf("kept ack not submitted: %d bodies, %d attempts", len(r.bodies), len(tr.started))
	}
	// The submitted ack is lost (never committed): the effect is
	// dispatched again once its ack timed out on the injected clock.
	d.Step(r, tb)
	if len(tr.started) != 4 {
		t.Fatal("re-dispatched before the ack timeout")
	}
	now = now.Add(2 * time.Second)
	d.Step(r, tb)
	if len(tr.started) != 5 || tr.started[4].ID != ids[0] || d.Stats().AcksExpired != 1 {
		t.Fatalf("no re-dispatch after the ack timeout: %d attempts, %+v", len(tr.started), d.Stats())
	}
}
