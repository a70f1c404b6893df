package journal

import "testing"

// misdirectOneWrite is a MemoryStorage whose first write to offset from
// lands at offset to instead (one misdirected write, the fault the
// simulator injects on its storage-fault replicas).
type misdirectOneWrite struct {
	*MemoryStorage
	from, to uint64
	done     bool
}

func (s *misdirectOneWrite) Write(buf []byte, offset uint64, cb func(error)) {
	if !s.done && offset == s.from {
		s.done = true
		offset = s.to
	}
	s.MemoryStorage.Write(buf, offset, cb)
}

// TestTruncateMisdirectedWriteIsRewritten (safety, review
// 3): Truncate marks a discarded op's slot by writing the reserved header
// over the prepare's first sector and into the redundant-header ring. If
// only the prepare-sector write is misdirected (one storage fault), the
// slot holds the discarded prepare under a reserved redundant header,
// which ClassifySlot reads as header_stale/fix: the discarded op is
// trusted again at the next Open, chained from the kept op exactly like
// the op the new view puts there. Nothing checks that the truncation
// landed. (A prepare write misdirected in normal operation is caught
// because its redundant header names the newer op; the reserved header
// never does.)
func TestTruncateMisdirectedWriteIsRewritten(t *testing.T) {

	const ops, keep = 20, 12
	c := newChain(ConfigTest, ops, bodyVaried)
	base := newFormatted(t, 7, MemoryFaults{})
	l, err := NewLayout(ConfigTest)
	if err != nil {
		t.Fatal(err)
	}
	// The truncation's write to slot 13's prepare lands on slot 40 (empty).
	s := &misdirectOneWrite{MemoryStorage: base, from: l.PrepareOffset(keep + 1), to: l.PrepareOffset(40)}
	s.done = true // not during the ops' own writes
	j := mustOpen(t, s)
	c.writeTo(t, j)
	s.done = false
	if err := j.Truncate(keep); err != nil {
		t.Fatal(err)
	}
	if !s.done {
		t.Fatal("setup: the truncation never wrote slot 13's prepare")
	}
	if _, ok := j.Header(keep + 1); ok {
		t.Fatal("setup: op 13 known right after truncate")
	}
	base.Crash(CrashKeepAll)
	j = mustOpen(t, base)
	r := j.Report()
	h, ok := j.Header(keep + 1)
	t.Logf("after reopen: op_max %d chain_break %d repair %v faulty %v truncated %v slot 13 %s/%s",
		r.OpMax, r.ChainBreak, r.Repair, r.Faulty, r.Truncated, r.Slots[keep+1].Class, r.Slots[keep+1].Decision)
	if ok && h.Checksum == c.sums[keep+1] {
		if _, err := j.ReadPrepare(keep+1, h.Checksum); err == nil && r.ChainBreak == 0 && len(r.Repair) == 0 {
			t.Fatalf("discarded op %d is trusted again after a truncation whose prepare write was misdirected: intact chain, no repair, op_max %d (recovery loads it, and replays it as committed once commit_max or a journaled prepare's commit covers op %d)",
				keep+1, r.OpMax, keep+1)
		}
	}
}
