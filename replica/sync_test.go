package replica

import (
	"testing"

	"github.com/chronon-db/chronon/wire"
)

// TestStateSyncRefusesImpossibleSizes: an offer announcing a checkpoint
// larger than the bound (or chunks that change the size mid-way) is refused
// instead of allocating or indexing past the buffer.
func TestStateSyncRefusesImpossibleSizes(t *testing.T) {
	o := newOne(t, 3, 1, func(cfg *Config) { cfg.CheckpointSizeMax = 1 << 20 })
	b := o.r
	offer := func(size, offset uint64, body []byte) {
		h := wire.Header{Cluster: b.cfg.Cluster, Protocol: wire.ProtocolVersion, Command: wire.CommandSyncCheckpoint,
			Replica: 0, Op: 50, Parent: wire.Uint128{Lo: 1}, Context: wire.Uint128{Lo: 2}, Commit: size, OpMin: offset,
			Size: uint32(wire.HeaderSize + len(body))}
		msg := make([]byte, h.Size)
		copy(msg[wire.HeaderSize:], body)
		wire.Seal(&h, msg)
		o.deliver(msg)
	}
	offer(1<<40, 0, nil)
	if b.sync.active || b.Counters.SyncsFailed != 1 {
		t.Fatalf("huge offer taken: active %v counters %+v", b.sync.active, b.Counters)
	}
	offer(4096, 0, nil)
	if !b.sync.active {
		t.Fatal("a valid offer was refused")
	}
	drops := b.Counters.DropUnexpected
	offer(8192, 0, make([]byte, 8000)) // same checkpoint, another size
	if b.sync.size != 4096 || b.sync.have[0] || b.Counters.DropUnexpected != drops+1 {
		t.Fatalf("chunk of a different size taken: size %d have %v", b.sync.size, b.sync.have)
	}
}
