package outbox

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chronon-db/chronon/statemachine"
	"github.com/chronon-db/chronon/wire"
)

var quietLog = slog.New(slog.NewTextHandler(io.Discard, nil))

// faultSink fails by target: "ok" succeeds, "flaky-N" fails N times with a
// 5xx-like error first, "bad" fails permanently, "slow" blocks until its
// context ends, "fenced" answers fenced.
type faultSink struct {
	mu       sync.Mutex
	calls    map[string]int
	tokens   map[string][]uint32
	release  chan struct{} // if set, "ok" waits for it
	inflight atomic.Int32
	maxSeen  atomic.Int32
}

func newFaultSink() *faultSink {
	return &faultSink{calls: map[string]int{}, tokens: map[string][]uint32{}}
}

func (s *faultSink) Deliver(ctx context.Context, d Delivery) ([]byte, error) {
	n := s.inflight.Add(1)
	defer s.inflight.Add(-1)
	for {
		m := s.maxSeen.Load()
		if n <= m || s.maxSeen.CompareAndSwap(m, n) {
			break
		}
	}
	target := string(d.Target)
	s.mu.Lock()
	s.calls[target]++
	calls := s.calls[target]
	s.tokens[target] = append(s.tokens[target], d.Token)
	release := s.release
	s.mu.Unlock()
	switch {
	case target == "ok":
		if release != nil {
			select {
			case <-release:
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		return []byte("sent:" + d.Key[:4]), nil
	case strings.HasPrefix(target, "flaky-"):
		if calls <= int(target[len(target)-1]-'0') {
			return nil, &RetryError{After: time.Millisecond, Err: errors.New("503")}
		}
		return nil, nil
	case target == "bad":
		return nil, Permanent(ReasonHTTP+422, errors.New("422"))
	case target == "slow":
		<-ctx.Done()
		return nil, ctx.Err()
	case target == "fenced":
		return nil, ErrFenced
	}
	return nil, errors.New("unknown target")
}

func (s *faultSink) count(target string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[target]
}

func newTestDispatcher(t *testing.T, cfg DispatcherConfig) *Dispatcher {
	t.Helper()
	cfg.Logger = quietLog
	d, err := NewDispatcher(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := d.Close(ctx); err != nil {
			t.Error(err)
		}
	})
	return d
}

// waitAcks collects at least n acks of view within 5 s.
func waitAcks(t *testing.T, d *Dispatcher, view uint32, n int) []Ack {
	t.Helper()
	var acks []Ack
	deadline := time.Now().Add(5 * time.Second)
	for len(acks) < n {
		acks = append(acks, d.Acks(view, 1<<20)...)
		if time.Now().After(deadline) {
			t.Fatalf("got %d acks, want %d", len(acks), n)
		}
		time.Sleep(time.Millisecond)
	}
	return acks
}

// commitAcks applies acks through the table as the replica would.
func commitAcks(t *testing.T, tb *Table, d *Dispatcher, ts uint64, acks []Ack) AckReply {
	t.Helper()
	body := AppendAckBody(nil, acks)
	var reply [AckReplySize]byte
	tb.ApplyAck(&statemachine.Context{Op: ts, Timestamp: ts}, body, reply[:])
	d.Committed(body)
	r, _ := DecodeAckReply(reply[:])
	return r
}

func TestDispatcherOutcomes(t *testing.T) {
	tb := newTestTable(t, Config{BackoffMin: 1, BackoffMax: 1000, AttemptsMax: 5})
	obs := &recordingObserver{}
	tb.SetObserver(obs)
	sink := newFaultSink()
	d := newTestDispatcher(t, DispatcherConfig{Sink: sink, Workers: 3, InFlightMax: 4, AttemptTimeout: 20 * time.Millisecond})
	emit(t, tb, 1, 100, "ok", "flaky-2", "bad", "slow")

	const view = 1
	now := uint64(100)
	for round := 0; tb.Len() > 0; round++ {
		if round > 50 {
			t.Fatalf("table not drained: %d left", tb.Len())
		}
		due := tb.Due(nil, now, 16, d.Busy)
		d.Offer(view, due)
		if d.Stats().InFlight+d.Stats().Awaiting == 0 {
			now += 1000
			continue
		}
		acks := waitAcks(t, d, view, 1)
		for _, a := range acks {
			if a.View != view {
				t.Fatalf("ack view %d", a.View)
			}
		}
		now += 2000
		commitAcks(t, tb, d, now, acks)
	}
	byTarget := map[string]Effect{}
	for _, e := range obs.finished {
		byTarget[string(e.Target)] = e
	}
	if e := byTarget["ok"]; e.State != StateDone || !strings.HasPrefix(string(e.Result), "sent:") {
		t.Errorf("ok: %+v", e)
	}
	if e := byTarget["flaky-2"]; e.State != StateDone || e.Attempts != 2 || sink.count("flaky-2") != 3 {
		t.Errorf("flaky: %+v calls %d", e, sink.count("flaky-2"))
	}
	if e := byTarget["bad"]; e.State != StateFailed || e.Reason != ReasonHTTP+422 || sink.count("bad") != 1 {
		t.Errorf("bad: %+v", e)
	}
	if e := byTarget["slow"]; e.State != StateFailed || e.Reason != ReasonAttemptsExhausted || sink.count("slow") != 5 {
		t.Errorf("slow (timeouts): %+v calls %d", e, sink.count("slow"))
	}
	if sink.count("ok") != 1 {
		t.Errorf("ok delivered %d times", sink.count("ok"))
	}
	if m := sink.maxSeen.Load(); m > 3 {
		t.Errorf("%d concurrent deliveries with 3 workers", m)
	}
	s := d.Stats()
	if s.Done != 2 || s.Failed != 1 || s.InFlight != 0 || s.Awaiting != 0 {
		t.Errorf("stats %+v", s)
	}
}

func TestDispatcherBoundsAndBusy(t *testing.T) {
	tb := newTestTable(t, Config{})
	sink := newFaultSink()
	sink.release = make(chan struct{})
	d := newTestDispatcher(t, DispatcherConfig{Sink: sink, Workers: 2, InFlightMax: 3})
	emit(t, tb, 1, 1, "ok", "ok", "ok", "ok", "ok")
	due := tb.Due(nil, 1, 10, d.Busy)
	if n := d.Offer(1, due); n != 3 {
		t.Fatalf("started %d, want InFlightMax 3", n)
	}
	if n := d.Offer(1, due); n != 0 {
		t.Fatalf("re-offer started %d", n)
	}
	if got := tb.Due(nil, 1, 10, d.Busy); len(got) != 2 {
		t.Fatalf("due minus busy = %d", len(got))
	}
	close(sink.release)
	acks := waitAcks(t, d, 1, 3)
	if len(acks) != 3 {
		t.Fatalf("%d acks", len(acks))
	}
	// Awaiting their commit, the effects stay busy.
	if got := tb.Due(nil, 1, 10, d.Busy); len(got) != 2 {
		t.Fatalf("awaiting effects not busy: %d due", len(got))
	}
	commitAcks(t, tb, d, 2, acks)
	if got := tb.Due(nil, 1, 10, d.Busy); len(got) != 2 || d.Stats().Awaiting != 0 {
		t.Fatalf("after commit: %d due, stats %+v", len(got), d.Stats())
	}
	// Acks honour the body size limit.
	d.Offer(1, tb.Due(nil, 1, 10, d.Busy))
	deadline := time.Now().Add(5 * time.Second)
	for d.Stats().Awaiting != 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	one := ackBodyHeaderSize + AckRecordSize + len("sent:xxxx")
	if n := len(d.Acks(1, one-1)); n != 0 {
		t.Fatalf("%d acks in a body too small for one", n)
	}
	for range 2 {
		if n := len(d.Acks(1, one)); n != 1 {
			t.Fatalf("%d acks in a body sized for one", n)
		}
	}
}

func TestDispatcherAckTimeout(t *testing.T) {
	var clock atomic.Int64
	clock.Store(time.Now().UnixNano())
	now := func() time.Time { return time.Unix(0, clock.Load()) }
	tb := newTestTable(t, Config{})
	sink := newFaultSink()
	d := newTestDispatcher(t, DispatcherConfig{Sink: sink, AckTimeout: time.Second, Now: now})
	emit(t, tb, 1, 1, "ok")
	d.Offer(1, tb.Due(nil, 1, 10, d.Busy))
	waitAcks(t, d, 1, 1) // the ack request is then lost
	if d.Offer(1, tb.Due(nil, 1, 10, d.Busy)) != 0 {
		t.Fatal("re-dispatched before the ack timeout")
	}
	clock.Add(int64(2 * time.Second))
	if d.Offer(1, tb.Due(nil, 1, 10, d.Busy)) != 1 {
		t.Fatal("not re-dispatched after the ack timeout")
	}
	acks := waitAcks(t, d, 1, 1)
	if acks[0].Attempt != 1 || sink.count("ok") != 2 {
		t.Fatalf("re-dispatch: %+v, %d calls", acks[0], sink.count("ok"))
	}
}

func TestDispatcherStepDown(t *testing.T) {
	tb := newTestTable(t, Config{})
	sink := newFaultSink()
	sink.release = make(chan struct{})
	d := newTestDispatcher(t, DispatcherConfig{Sink: sink, Workers: 2})
	ids := emit(t, tb, 1, 1, "ok", "flaky-1")
	if n := d.Offer(1, tb.Due(nil, 1, 10, d.Busy)); n != 2 {
		t.Fatal(n)
	}
	// flaky-1's retry completes in view 1 and is ready; ok is in flight.
	deadline := time.Now().Add(5 * time.Second)
	for d.Stats().Retry == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	d.StepDown(2)
	if s := d.Stats(); s.Awaiting != 0 || s.View != 2 {
		t.Fatalf("after step-down: %+v", s)
	}
	// The in-flight delivery of view 1 is cancelled and dropped.
	for d.Stats().InFlight != 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if acks := d.Acks(2, 1<<20); len(acks) != 0 {
		t.Fatalf("view-1 results became view-2 acks: %+v", acks)
	}
	if acks := d.Acks(1, 1<<20); len(acks) != 0 {
		t.Fatalf("acks of an old view handed out: %+v", acks)
	}
	if d.Offer(1, tb.Due(nil, 1, 10, d.Busy)) != 0 {
		t.Fatal("offer in an old view accepted")
	}
	// The new primary (view 2) re-dispatches both with token 2.
	close(sink.release)
	if n := d.Offer(2, tb.Due(nil, 1, 10, d.Busy)); n != 2 {
		t.Fatalf("re-dispatch started %d", n)
	}
	acks := waitAcks(t, d, 2, 2)
	for _, a := range acks {
		if a.View != 2 || a.Attempt != 1 || a.Outcome != OutcomeDone {
			t.Fatalf("ack %+v", a)
		}
	}
	if r := commitAcks(t, tb, d, 10, acks); r.Applied != 2 || tb.Len() != 0 {
		t.Fatalf("commit: %+v", r)
	}
	if tok := sink.tokens["ok"]; len(tok) != 2 || tok[0] != 1 || tok[1] != 2 {
		t.Fatalf("tokens seen by the sink %v", tok)
	}
	_ = ids
}

func TestDispatcherFencedAndClosed(t *testing.T) {
	tb := newTestTable(t, Config{})
	sink := newFaultSink()
	d := newTestDispatcher(t, DispatcherConfig{Sink: sink})
	emit(t, tb, 1, 1, "fenced")
	d.Offer(1, tb.Due(nil, 1, 10, d.Busy))
	deadline := time.Now().Add(5 * time.Second)
	for d.Stats().Fenced == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if s := d.Stats(); s.Fenced != 1 || s.Awaiting != 0 || len(d.Acks(1, 1<<20)) != 0 {
		t.Fatalf("fenced: %+v", s)
	}
	if err := d.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d.Offer(1, tb.Due(nil, 1, 10, nil)) != 0 {
		t.Fatal("offer after close")
	}
	if _, err := NewDispatcher(DispatcherConfig{}); !errors.Is(err, ErrConfig) {
		t.Fatal(err)
	}
	_ = wire.Uint128{}
}
