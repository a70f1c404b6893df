package replica

import (
	"testing"

	"github.com/chronon-db/chronon/wire"
)

// TestRestoreCommittedHeaderChecksLinks restores, on a fresh replica, the
// headers of the ops its checkpoint covers: accepted only newest first,
// each linking to the one before, starting at the checkpoint's op.
func TestRestoreCommittedHeaderChecksLinks(t *testing.T) {
	o := newOne(t, 1, 0, func(cfg *Config) { cfg.CheckpointInterval = 8 })
	o.requests(4, 6)
	j := o.j
	if len(j.checkpoints) == 0 {
		t.Fatal("no checkpoint")
	}
	cp := j.checkpoints[len(j.checkpoints)-1]
	o.fresh()
	r := o.r
	if err := r.restore(cp.op, cp.checksum, CheckpointBlobs{State: cp.state, Sessions: cp.sessions}); err != nil {
		t.Fatal(err)
	}
	header := func(op uint64) wire.Header {
		var h wire.Header
		if err := wire.DecodeHeader(j.stored[op], &h, &r.wcfg); err != nil {
			t.Fatalf("op %d: %v", op, err)
		}
		return h
	}
	below := header(cp.op - 1)
	if err := r.restoreCommittedHeader(&below); err == nil {
		t.Fatal("a header below the checkpoint was accepted before the checkpoint's own")
	}
	forged := header(cp.op)
	forged.Checksum.Lo++
	if err := r.restoreCommittedHeader(&forged); err == nil {
		t.Fatal("a header with the wrong checksum was accepted")
	}
	for op := cp.op; op > cp.op-4; op-- {
		h := header(op)
		if err := r.restoreCommittedHeader(&h); err != nil {
			t.Fatalf("op %d: %v", op, err)
		}
		if !r.canonical(&h) {
			t.Fatalf("op %d not in the log after restoring it", op)
		}
	}
	unlinked := header(cp.op - 4)
	unlinked.Checksum.Lo++ // op cp.op-3's parent is not this one
	if err := r.restoreCommittedHeader(&unlinked); err == nil {
		t.Fatal("a header the next op does not link to was accepted")
	}
	above := header(cp.op + 1)
	if err := r.restoreCommittedHeader(&above); err == nil {
		t.Fatal("an op above the checkpoint was accepted")
	}
}
