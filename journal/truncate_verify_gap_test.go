package journal

import "testing"

// misdirectWriteThenRead misdirects the first write to from and then the
// first read of from to the same place to (two faults: the truncation's
// write and the verification's read-back).
type misdirectWriteThenRead struct {
	*MemoryStorage
	from, to           uint64
	armed, wrote, read bool
}

func (s *misdirectWriteThenRead) Write(buf []byte, offset uint64, cb func(error)) {
	if s.armed && !s.wrote && offset == s.from {
		s.wrote = true
		offset = s.to
	}
	s.MemoryStorage.Write(buf, offset, cb)
}

func (s *misdirectWriteThenRead) Read(buf []byte, offset uint64, cb func(error)) {
	if s.armed && s.wrote && !s.read && offset == s.from {
		s.read = true
		offset = s.to
	}
	s.MemoryStorage.Read(buf, offset, cb)
}

// TestKnownGapTruncateVerifyFooledByMisdirectedRead (safety, double fault,
// fourth review): the truncation's reserved-sector write to slot 13 lands
// on slot 40, and the read-back of slot 13 is misdirected to slot 40 too:
// it returns slot 13's own reserved sector, so verification accepts the
// slot while it still holds the discarded prepare. "A misdirected read
// only costs a rewrite, since the reserved sector names its slot" does not
// hold when the misdirected write put that very sector elsewhere.
func TestKnownGapTruncateVerifyFooledByMisdirectedRead(t *testing.T) {
	t.Skip("known residual (docs/data-file.md): a misdirected truncation write and a misdirected read-back of the same slot to the same place fool the verification (two faults on one replica)")
	const ops, keep = 20, 12
	c := newChain(ConfigTest, ops, bodyVaried)
	base := newFormatted(t, 7, MemoryFaults{})
	l, err := NewLayout(ConfigTest)
	if err != nil {
		t.Fatal(err)
	}
	s := &misdirectWriteThenRead{MemoryStorage: base, from: l.PrepareOffset(keep + 1), to: l.PrepareOffset(40)}
	j := mustOpen(t, s)
	c.writeTo(t, j)
	s.armed = true
	if err := j.Truncate(keep); err != nil {
		t.Fatal(err)
	}
	if !s.wrote || !s.read {
		t.Fatalf("setup: wrote %v read %v", s.wrote, s.read)
	}
	base.Crash(CrashKeepAll)
	j = mustOpen(t, base)
	r := j.Report()
	h, ok := j.Header(keep + 1)
	if ok && h.Checksum == c.sums[keep+1] {
		if _, err := j.ReadPrepare(keep+1, h.Checksum); err == nil && r.ChainBreak == 0 && len(r.Repair) == 0 {
			t.Fatalf("discarded op %d trusted again after its truncation write and read-back were both misdirected to slot 40 (class %s/%s, op_max %d)",
				keep+1, r.Slots[keep+1].Class, r.Slots[keep+1].Decision, r.OpMax)
		}
	}
}
