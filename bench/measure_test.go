package bench

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestMeasureCountsCallsOfTheMeasuredPhase drives calls that sleep 2 ms
// and return 3 events each: every call counted is one of the measured
// phase, events are 3 per request, the latencies are at least the sleep,
// and each client and caller got its own CallFunc.
func TestMeasureCountsCallsOfTheMeasuredPhase(t *testing.T) {
	const sleep = 2 * time.Millisecond
	var (
		measuring    atomic.Bool
		measureEnded atomic.Bool // OnMeasureEnd ran, after OnMeasure
		mu           sync.Mutex
		made         = map[[2]int]bool{}
		measured     atomic.Int64 // calls that started in the measured phase
		ended        atomic.Int64 // calls that ended in the measured phase
	)
	cfg := MeasureConfig{Clients: 3, Callers: 2, Warmup: 30 * time.Millisecond, Duration: 100 * time.Millisecond,
		OnMeasure:    func() { measuring.Store(true) },
		OnMeasureEnd: func() { measureEnded.Store(measuring.Load()) }}
	res, err := Measure(context.Background(), cfg, func(client, caller int) CallFunc {
		mu.Lock()
		made[[2]int{client, caller}] = true
		mu.Unlock()
		return func(ctx context.Context) (int, error) {
			before := measuring.Load()
			time.Sleep(sleep)
			if before {
				measured.Add(1)
			}
			if measuring.Load() {
				ended.Add(1)
			}
			return 3, nil
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if !measureEnded.Load() {
		t.Fatal("OnMeasureEnd not called after OnMeasure")
	}
	if len(made) != 6 {
		t.Fatalf("CallFuncs made for %v, want 3 clients x 2 callers", made)
	}
	if res.Clients != 3 || res.Callers != 2 || res.Partial || res.Note != "" {
		t.Fatalf("result: %+v", res)
	}
	if res.Requests < 1 || res.Events != 3*res.Requests {
		t.Fatalf("%d requests, %d events: want at least one, 3 events each", res.Requests, res.Events)
	}
	// The calls counted are those that ended in the measured phase: all
	// that started in it, except those in flight at its end, and none of
	// the warm-up's (give or take one per caller at each edge, where
	// OnMeasure and the end of the phase race with calls).
	if res.Requests < measured.Load()-6 || res.Requests > ended.Load()+6 {
		t.Fatalf("%d requests counted; %d calls started and %d ended in the measured phase", res.Requests, measured.Load(), ended.Load())
	}
	l := res.Latency
	if l.P50 < float64(sleep.Microseconds()) || !(l.P50 <= l.P90 && l.P90 <= l.P99 && l.P99 <= l.P999 && l.P999 <= l.Max) {
		t.Fatalf("latencies %+v: want ordered, at least %v", l, sleep)
	}
	if res.ElapsedSeconds < cfg.Duration.Seconds() || res.RequestsPerSecond <= 0 {
		t.Fatalf("elapsed %vs, %v requests/s", res.ElapsedSeconds, res.RequestsPerSecond)
	}
}

// TestMeasureStopsOnAFailedCall: the first failed call ends a one-hour run
// with that error.
func TestMeasureStopsOnAFailedCall(t *testing.T) {
	boom := errors.New("boom")
	var calls atomic.Int64
	cfg := MeasureConfig{Clients: 2, Callers: 1, Warmup: time.Hour, Duration: time.Hour}
	_, err := Measure(context.Background(), cfg, func(client, caller int) CallFunc {
		return func(ctx context.Context) (int, error) {
			if calls.Add(1) == 50 {
				return 0, boom
			}
			return 1, nil
		}
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Measure: %v, want %v", err, boom)
	}
}

// TestMeasureEndsWhenTheBudgetIsSpent: callers that return ErrBudget end
// a one-hour run without an error, with the budget's note.
func TestMeasureEndsWhenTheBudgetIsSpent(t *testing.T) {
	const budget = 1000
	var used atomic.Int64
	cfg := MeasureConfig{Clients: 2, Callers: 2, Warmup: time.Hour, Duration: time.Hour,
		Spent:     func() float64 { return float64(used.Load()) / budget },
		SpentNote: "budget used up"}
	res, err := Measure(context.Background(), cfg, func(client, caller int) CallFunc {
		return func(ctx context.Context) (int, error) {
			if used.Add(1) > budget {
				return 0, ErrBudget
			}
			return 1, nil
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Note != "budget used up" || res.Partial || res.Events > budget {
		t.Fatalf("result: %+v", res)
	}
}

// TestMeasureInterrupted: cancelling ctx as the measured phase starts
// ends a one-hour run at once with Partial set, and cancels the calls in
// flight.
func TestMeasureInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	cfg := MeasureConfig{Clients: 1, Callers: 4, Warmup: 10 * time.Millisecond, Duration: time.Hour, OnMeasure: cancel}
	res, err := Measure(ctx, cfg, func(client, caller int) CallFunc {
		return func(ctx context.Context) (int, error) {
			<-ctx.Done() // a call that only ends when cut off
			return 0, ctx.Err()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Partial || res.Note != "interrupted" || res.Requests != 0 || res.ElapsedSeconds >= 3600 {
		t.Fatalf("result: %+v", res)
	}
}

func TestMeasureConfigCheck(t *testing.T) {
	for name, cfg := range map[string]MeasureConfig{
		"no clients":       {Clients: 0, Callers: 1, Duration: time.Second},
		"no callers":       {Clients: 1, Callers: 0, Duration: time.Second},
		"no duration":      {Clients: 1, Callers: 1},
		"negative warm-up": {Clients: 1, Callers: 1, Warmup: -time.Second, Duration: time.Second},
	} {
		if _, err := Measure(context.Background(), cfg, nil); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}
