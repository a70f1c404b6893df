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
	// Seeds from 1 on until enough checkpoints were damaged (the swarm
	// levels switch bit rot off for some seeds, and any change of the
	// replica moves a seed's trajectory), at most seedsMax of them.
	want, seedsMax := uint64(4), uint64(200)
	if testing.Short() {
		want = 1
	}
	run := func(seed uint64) uint64 {
		r := Run(Options{Seed: seed, CheckpointRot: true})
		if r.Failed() {
			t.Fatalf("seed %d with checkpoint rot: %v (rerun: chronon vopr --seed %d --checkpoint-rot)", seed, r.Err, seed)
		}
		return r.Stats.Faults[FaultCorruptCheckpoint]
	}
	for _, seed := range checkpointRotRegressionSeeds {
		run(seed)
	}
	rot, seeds := uint64(0), uint64(0)
	for seeds < seedsMax && rot < want {
		seeds++
		rot += run(seeds)
	}
	if rot < want {
		t.Fatalf("%d checkpoint blocks damaged in seeds 1..%d, want %d", rot, seeds, want)
	}
	t.Logf("seeds 1..%d: %d checkpoint blocks damaged", seeds, rot)
}
