package bench

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// TestLatencyQuantilesMatchExactOnes records random latencies spread over
// seven decades and checks every reported quantile against the exact order
// statistic (nearest rank): never below it, and at most 0.1% or 0.5 µs
// above.
func TestLatencyQuantilesMatchExactOnes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, n := range []int{1, 7, 1000, 100_000} {
		l := newLatencies()
		values := make([]time.Duration, n)
		for i := range values {
			// log-uniform from 1 µs to 10 s
			values[i] = time.Duration(math.Exp(rng.Float64()*math.Log(1e7)) * 1e3)
			l.Record(values[i])
		}
		slices.Sort(values)
		if l.count() != int64(n) {
			t.Fatalf("n=%d: count %d", n, l.count())
		}
		for _, q := range []float64{0.5, 0.9, 0.99, 0.999, 1} {
			rank := min(n, max(1, int(q*float64(n)+0.5)))
			exact := values[rank-1]
			got := l.quantile(q)
			if got < exact || got > exact+max(exact/1000, 512*time.Nanosecond) {
				t.Errorf("n=%d q=%v: got %v, exact %v", n, q, got, exact)
			}
		}
		if l.quantile(1) != values[n-1] {
			t.Errorf("n=%d: max %v, exact %v", n, l.quantile(1), values[n-1])
		}
	}
}

func TestLatencyEdges(t *testing.T) {
	l := newLatencies()
	if l.quantile(0.5) != 0 {
		t.Fatalf("empty histogram: p50 %v", l.quantile(0.5))
	}
	l.Record(0)               // below the lowest trackable value
	l.Record(2 * time.Minute) // above the highest
	if got := l.quantile(0.5); got < 0 || got > 2*time.Microsecond {
		t.Errorf("p50 of {0, 2m}: %v", got)
	}
	if got := l.quantile(1); got < time.Minute || got > 2*time.Minute {
		t.Errorf("max of {0, 2m}: %v", got)
	}
	if l.max != 2*time.Minute {
		t.Errorf("exact max %v", l.max)
	}
}

func TestLatencyMerge(t *testing.T) {
	a, b := newLatencies(), newLatencies()
	for i := range 100 {
		a.Record(time.Duration(i+1) * time.Millisecond)
		b.Record(time.Duration(i+101) * time.Millisecond)
	}
	a.merge(b)
	if a.count() != 200 {
		t.Fatalf("count %d", a.count())
	}
	if p50 := a.quantile(0.5); p50 < 100*time.Millisecond || p50 > 100100*time.Microsecond {
		t.Errorf("p50 %v, want 100ms", p50)
	}
	if a.quantile(1) != 200*time.Millisecond {
		t.Errorf("max %v", a.quantile(1))
	}
}

// TestLatencyRecordDoesNotAllocate guards the measuring loop.
func TestLatencyRecordDoesNotAllocate(t *testing.T) {
	l := newLatencies()
	d := time.Millisecond
	if n := testing.AllocsPerRun(1000, func() { l.Record(d); d += time.Microsecond }); n != 0 {
		t.Fatalf("%v allocations per Record", n)
	}
}
