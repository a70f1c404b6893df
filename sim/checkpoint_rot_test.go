package sim

import "testing"

// checkpointRotRegressionSeeds failed with Options.CheckpointRot before the
// fix named with each.
var checkpointRotRegressionSeeds = []uint64{
	81, // a replica started without its damaged checkpoint truncated its journal below it in a view change
}

// TestSeedsCheckpointRot runs seeds with bit rot in grid blocks the durable
// checkpoint uses (on at most f replicas, while down): every damaged
// replica rebuilds its free set, or starts without its checkpoint and
// copies the primary's, and the cluster stays safe and live.
func TestSeedsCheckpointRot(t *testing.T) {
	n := uint64(20)
	if testing.Short() {
		n = 5
	}
	seeds := append([]uint64(nil), checkpointRotRegressionSeeds...)
	for seed := uint64(1); seed <= n; seed++ {
		seeds = append(seeds, seed)
	}
	rot := uint64(0)
	for _, seed := range seeds {
		r := Run(Options{Seed: seed, CheckpointRot: true})
		if r.Failed() {
			t.Fatalf("seed %d with checkpoint rot: %v (rerun: chronon vopr --seed %d --checkpoint-rot)", seed, r.Err, seed)
		}
		rot += r.Stats.Faults[FaultCorruptCheckpoint]
	}
	if rot == 0 {
		t.Fatal("no checkpoint block was damaged")
	}
	t.Logf("%d seeds, %d checkpoint blocks damaged", len(seeds), rot)
}
