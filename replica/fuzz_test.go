package replica

import (
	"testing"

	"github.com/chronon-db/chronon/wire"
)

// FuzzRestoreCheckpoint feeds arbitrary bytes to the checkpoint decoders a
// replica runs on data from disk or from a peer (state sync): the blob
// splitter and the client-table decoder. Bad bytes must give an error,
// never a panic.
func FuzzRestoreCheckpoint(f *testing.F) {
	o := newOne(f, 1, 0, func(cfg *Config) { cfg.CheckpointInterval = 2 })
	o.requests(2, 3)
	seed := o.r.encodeSessions(nil)
	f.Add(seed)
	f.Add(joinCheckpointBlob(nil, CheckpointBlobs{State: []byte{1, 2}, Sessions: seed}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = splitCheckpointBlob(b)
		r := newOne(t, 1, 0, nil).r
		err := r.restore(5, wire.Uint128{Lo: 1}, CheckpointBlobs{Sessions: b})
		if err == nil && r.CommitMin() != 5 {
			t.Fatalf("accepted sessions but commit %d", r.CommitMin())
		}
	})
}

// FuzzDecodeHeaders feeds arbitrary do_view_change / start_view / headers
// bodies to the decoder: it never panics, and what it accepts is a
// contiguous hash chain ending at the announced op.
func FuzzDecodeHeaders(f *testing.F) {
	cfg := wire.Config{Cluster: wire.Uint128{Lo: 77}, ReplicaCount: 3, MessageSizeMax: wire.MessageSizeMaxTest}
	root := wire.RootPrepare(cfg.Cluster)
	var body []byte
	parent := root.Checksum
	for op := uint64(1); op <= 3; op++ {
		h := wire.Header{Cluster: cfg.Cluster, Size: wire.HeaderSize, Protocol: wire.ProtocolVersion, Command: wire.CommandPrepare,
			Op: op, Timestamp: op, Parent: parent, Operation: wire.OperationBatch}
		wire.SealHeader(&h, nil)
		var b [wire.HeaderSize]byte
		h.Encode(b[:])
		body = append(body, b[:]...)
		parent = h.Checksum
	}
	f.Add(body, uint64(3))
	f.Add([]byte{}, uint64(0))
	f.Fuzz(func(t *testing.T, body []byte, op uint64) {
		out, ok := decodeHeaders(body, op, &cfg, make([]wire.Header, 0, 64))
		if !ok {
			return
		}
		for i := range out {
			if i > 0 && (out[i].Op != out[i-1].Op+1 || out[i].Parent != out[i-1].Checksum) {
				t.Fatalf("accepted a broken chain at %d", i)
			}
		}
		if len(out) > 0 && out[len(out)-1].Op != op {
			t.Fatalf("accepted headers ending at %d for op %d", out[len(out)-1].Op, op)
		}
	})
}
