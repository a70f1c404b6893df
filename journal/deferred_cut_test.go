package journal

import "testing"

// TestDeferredLostWriteIsReported (found in review): in HeaderDeferred
// mode (the node's and the simulator's) a batch's prepares are
// acknowledged once durable while their redundant headers wait for the
// next write. One lost (or misdirected) prepare write in the batch, then a
// crash, leaves a hole above OpHeaderMax: recovery cuts it and every later
// op and reports a log that is TruncateSafe with OpMax below ops the
// replica acknowledged. The cut ops are listed in Report.Truncated, which
// replica.Recover takes as a reason to withhold the replica's vote; this
// test pins that the report says so.
func TestDeferredLostWriteIsReported(t *testing.T) {
	s := newFormatted(t, 7, MemoryFaults{})
	j := mustOpen(t, s)
	if err := j.SetHeaderMode(HeaderDeferred); err != nil {
		t.Fatal(err)
	}
	c := newChain(ConfigTest, 12, bodyVaried)
	for op := 1; op <= 10; op++ {
		if err := j.WritePrepare(c.msgs[op]); err != nil {
			t.Fatal(err)
		}
	}
	// Ops 11 and 12 in one batch; the write of op 11's prepare is lost
	// (the storage acknowledged it, the platter kept the old bytes).
	off := j.layout.PrepareOffset(j.layout.SlotOf(11))
	old := append([]byte(nil), s.Data()[off:off+uint64(ConfigTest.MessageSizeMax)]...)
	if err := j.WritePrepares(c.msgs[11], c.msgs[12]); err != nil {
		t.Fatal(err)
	}
	copy(s.Data()[off:], old)
	// Both were acknowledged (prepare_ok follows WritePrepares). Crash
	// before the next write or Flush.
	s.Crash(CrashKeepAll)
	j = mustOpen(t, s)
	r := j.Report()
	t.Logf("op_max %d op_header_max %d truncated %v faulty %v repair %v chain_break %d", r.OpMax, r.OpHeaderMax, r.Truncated, r.Faulty, r.Repair, r.ChainBreak)
	if r.OpMax < 12 && r.TruncateSafe() && len(r.Repair) == 0 && len(r.Truncated) == 0 && r.ChainBreak == 0 {
		t.Fatalf("acknowledged ops 11 and 12 are gone (op_max %d) and the report looks whole: replica.Recover would let the replica vote", r.OpMax)
	}
}
