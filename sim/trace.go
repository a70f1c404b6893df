package sim

import (
	"encoding/binary"
	"fmt"

	"github.com/chronon-db/chronon/wire"
)

// trace keeps a running hash of every event of a run (the determinism
// fingerprint) and the last lines of notable events for failure reports.
type trace struct {
	hash  wire.Uint128
	buf   [64]byte
	lines []string
	next  int
	full  bool
	now   *uint64
}

func newTrace(tail int, now *uint64) *trace {
	return &trace{lines: make([]string, tail), now: now}
}

// event folds numbers into the trace hash.
func (t *trace) event(vals ...uint64) {
	b := t.buf[:0]
	b = binary.LittleEndian.AppendUint64(b, t.hash.Lo)
	b = binary.LittleEndian.AppendUint64(b, t.hash.Hi)
	for _, v := range vals {
		b = binary.LittleEndian.AppendUint64(b, v)
		if len(b) >= len(t.buf)-8 {
			t.hash = wire.Checksum(b)
			b = binary.LittleEndian.AppendUint64(t.buf[:0], t.hash.Lo)
		}
	}
	t.hash = wire.Checksum(b)
}

// logf records a notable event (also folded into the hash).
func (t *trace) logf(format string, args ...any) {
	line := fmt.Sprintf("tick %6d  ", *t.now) + fmt.Sprintf(format, args...)
	sum := wire.Checksum([]byte(line))
	t.event(sum.Lo)
	t.lines[t.next] = line
	t.next++
	if t.next == len(t.lines) {
		t.next, t.full = 0, true
	}
}

// tail returns the kept lines, oldest first.
func (t *trace) tail() []string {
	if !t.full {
		return append([]string(nil), t.lines[:t.next]...)
	}
	return append(append([]string(nil), t.lines[t.next:]...), t.lines[:t.next]...)
}
