//go:build linux

package journal

import (
	"path/filepath"
	"testing"

	"github.com/chronon-db/chronon/wire"
)

// BenchmarkCheckpoint measures one checkpoint of a 128 MiB state on a real
// O_DIRECT file with production's 512 KiB grid blocks: when 1 % of its
// blocks changed since the previous checkpoint (a table updated in place
// and a log grown at its end), and when every block changed (what each
// checkpoint wrote before blocks were shared).
func BenchmarkCheckpoint(b *testing.B) {
	const stateSize = 128 << 20
	cfg := benchConfig
	cfg.SlotCount = 16
	cfg.GridBlockCount = uint32(2*stateSize/(cfg.GridBlockSize-wire.HeaderSize)) + 16
	l, err := NewLayout(cfg)
	if err != nil {
		b.Fatal(err)
	}
	f, err := CreateFile(filepath.Join(b.TempDir(), "data"), l.Size)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { f.Close() })
	if err := Format(f, FormatOptions{Config: cfg, Cluster: testCluster, ReplicaCount: 1}); err != nil {
		b.Fatal(err)
	}
	j, err := Open(f)
	if err != nil {
		b.Fatal(err)
	}
	root := j.Superblock().VSR.CheckpointChecksum
	state := blob(1, stateSize)
	pm := int(cfg.GridBlockSize - wire.HeaderSize)
	blocks := stateSize / pm
	data := CheckpointData{State: state, StateSegments: []int{stateSize / 2}, Sessions: blob(2, 64<<10)}
	// Two full checkpoints first: every block of the grid has been written
	// once (no unwritten extents left in the measurement).
	for range 2 {
		state[0]++
		for i := 0; i < stateSize; i += pm {
			state[i]++
		}
		if err := j.Checkpoint(0, root, data); err != nil {
			b.Fatal(err)
		}
	}
	run := func(b *testing.B, change int) {
		before := j.CheckpointStats()
		n := 0
		for b.Loop() {
			for k := range change {
				state[((n*change+k)%blocks)*pm+17]++
			}
			n++
			if err := j.Checkpoint(0, root, data); err != nil {
				b.Fatal(err)
			}
		}
		after := j.CheckpointStats()
		b.ReportMetric(float64(after.BytesWritten-before.BytesWritten)/float64(n)/(1<<20), "MiB-written/op")
	}
	b.Run("1pct", func(b *testing.B) { run(b, blocks/100) })
	b.Run("all", func(b *testing.B) { run(b, blocks) })
}
