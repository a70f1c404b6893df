package bench

import (
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"
)

// Latency histogram bounds: 1 µs to 1 minute with 3 significant digits
// (an error of at most 0.1%, or 0.5 µs below 1 ms), about 150 KB of fixed
// buckets allocated up front.
// Latencies above the highest value are recorded as the highest value (and
// the exact maximum is kept beside the histogram).
const (
	histLowest  = int64(time.Microsecond)
	histHighest = int64(time.Minute)
	histDigits  = 3
)

// latencies is an HDR histogram of request latencies shared by the callers
// of one client. Record does not allocate.
type latencies struct {
	mu   sync.Mutex
	h    *hdrhistogram.Histogram
	max  time.Duration
	seen bool
}

func newLatencies() *latencies {
	return &latencies{h: hdrhistogram.New(histLowest, histHighest, histDigits)}
}

// Record adds one latency.
func (l *latencies) Record(d time.Duration) {
	v := min(max(int64(d), histLowest), histHighest)
	l.mu.Lock()
	// v is within the histogram's range, so RecordValue cannot fail.
	_ = l.h.RecordValue(v)
	l.max = max(l.max, d)
	l.seen = true
	l.mu.Unlock()
}

// merge adds every latency of o (not concurrently with Record on either).
func (l *latencies) merge(o *latencies) {
	l.h.Merge(o.h)
	l.max = max(l.max, o.max)
	l.seen = l.seen || o.seen
}

// count returns the number of latencies recorded.
func (l *latencies) count() int64 { return l.h.TotalCount() }

// quantile returns the latency at quantile q in (0, 1]: the value of
// nearest rank q among those recorded, rounded up by at most 0.1% (or 0.5
// µs), and at most the exact maximum.
func (l *latencies) quantile(q float64) time.Duration {
	if !l.seen {
		return 0
	}
	return min(time.Duration(l.h.ValueAtQuantile(q*100)), l.max)
}
