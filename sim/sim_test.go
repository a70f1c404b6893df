package sim

import (
	"testing"
)

// TestSeeds runs seeds 1..200 (30 with -short) with every fault kind, primary
// faults included, and fails on any violated invariant. `chronon vopr
// --seeds 200` in CI runs the same seeds through the command.
func TestSeeds(t *testing.T) {
	n := uint64(200)
	if testing.Short() {
		n = 30
	}
	var total Stats
	for seed := uint64(1); seed <= n; seed++ {
		r := Run(Options{Seed: seed})
		if r.Failed() {
			t.Errorf("%s", r.Report())
		}
		total.Add(&r.Stats)
	}
	if !testing.Short() {
		// The faults that exist only in the simulator's own bookkeeping must
		// keep happening.
		for _, k := range []FaultKind{FaultCorruptMessage, FaultDeliveredAfterCrash, FaultWriteLostInFlight,
			FaultWriteTornInFlight, FaultCrashThenPrimaryCut, FaultRogueFrame, FaultCorruptStable,
			FaultCorruptPrewritten, FaultGridWriteLost, FaultGridWriteMisdirected} {
			if total.Faults[k] == 0 {
				t.Errorf("seeds 1..%d injected no %s", n, k)
			}
		}
		if total.CorruptDropped == 0 {
			t.Errorf("seeds 1..%d: no corrupted message reached a receiver", n)
		}
		if total.Grid.Repaired == 0 {
			t.Errorf("seeds 1..%d: no stable block repaired from a peer", n)
		}
		if total.RogueDropped == 0 {
			t.Errorf("seeds 1..%d: no rogue frame reached a replica", n)
		}
	}
	for _, seed := range regressionSeeds {
		if r := Run(Options{Seed: seed}); r.Failed() {
			t.Errorf("regression seed %d: %s", seed, r.Report())
		}
	}
	for _, o := range regressionRuns {
		if r := Run(o); r.Failed() {
			t.Errorf("regression seed %d with %d replicas: %s", o.Seed, o.Replicas, r.Report())
		}
	}
}

// regressionRuns are failures found with options other than the seed's
// defaults. Seeds found before a fix may stop reproducing once other fixes
// change the run; they stay as cheap coverage of what once broke.
var regressionRuns = []Options{
	// A replica synced over its damaged checkpoint, whose shared stable
	// blocks stayed damaged; the run converged before its scrubber had
	// read them back, and the final audit could not read a transfer
	// (acked_lost): convergence waits for a whole scrub pass.
	{Seed: 48, Workload: WorkloadLedger},
	// A view change left unloaded journal ops (above a hole, beyond the
	// prepare ring) in the WAL; they came back as committed (hash_chain).
	{Seed: 20093, Replicas: 5},
	{Seed: 41167, Replicas: 5},
	// A crash inside a WAL truncation (hash_chain).
	{Seed: 776, Replicas: 5},
	// A rejoiner restarted with only a view persisted (liveness).
	{Seed: 502, Replicas: 5},
	// A restarted primary could not name ops below its checkpoint (its walk
	// back through the WAL stopped at a damaged slot) and backups behind
	// them waited forever; it now offers its checkpoint (liveness).
	{Seed: 21580, Replicas: 5},
	// After a whole-cluster power loss more than f replicas found their
	// journals damaged (rotted prepares, or ending below the log head
	// recorded with log_view) and withheld their votes: no view could
	// start (liveness). Fixed: bounded damage sends damaged votes.
	{Seed: 1211, PowerLoss: true},
	{Seed: 329, PowerLoss: true},
	{Seed: 30001, Replicas: 5, PowerLoss: true},
	// After a whole-cluster power loss the only whole journal's log ended
	// below the ops a damaged voter of the same log_view held (and so may
	// have acknowledged), which no other replica held: they could not have
	// committed, yet the new primary waited on them in every view
	// (liveness). Fixed: bestLog waits only for ops that may have
	// committed (mayHaveCommitted).
	{Seed: 3545, Replicas: 3, PowerLoss: true},
	{Seed: 3684, Replicas: 3, PowerLoss: true},
}

// regressionSeeds are seeds beyond the CI range that once failed, each
// with the fix it needed.
var regressionSeeds = []uint64{
	// A restarted primary did not know the headers of the committed ops
	// its checkpoint covered, so backups lagging behind that checkpoint
	// could never learn which prepares to repair (liveness). Fixed by
	// persist restoring those headers from the WAL.
	635,
	// A replica that lost its data file began a state sync from the
	// primary of view 5 and kept asking that replica for chunks after view
	// 7 started, while taking chunks only from the primary of its view
	// (liveness). Fixed: an offer from the current primary redirects it.
	668,
	// A replica with a WAL hole voted with its shorter log (hash_chain).
	6660,
	// Unloaded journal ops left behind by a view change (hash_chain).
	30593,
}

// TestBrokenQuorumIsCaught proves the checkers catch a broken protocol: with
// QuorumOverride 1 the primary of a 3- or 5-replica cluster commits alone,
// and a view change after it crashes or is cut off loses or rewrites
// committed ops. Some seed in 1..30 must fail on a safety invariant.
func TestBrokenQuorumIsCaught(t *testing.T) {
	caught := map[string]int{}
	for seed := uint64(1); seed <= 30; seed++ {
		if r := Run(Options{Seed: seed, QuorumOverride: 1}); r.Failed() {
			caught[r.Invariant()]++
		}
	}
	if caught[InvariantHashChain]+caught[InvariantAckedLost]+caught[InvariantReply] == 0 {
		t.Fatalf("committing without a quorum was not caught as a safety violation: %v", caught)
	}
	t.Logf("violations found: %v", caught)
}

// TestSeedsNoFaults: without faults every seed must pass, liveness too.
func TestSeedsNoFaults(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		r := Run(Options{Seed: seed, NoFaults: true, Ticks: 1000})
		if r.Failed() {
			t.Errorf("%s", r.Report())
		}
		if r.Stats.OpsCommitted == 0 {
			t.Errorf("seed %d committed nothing", seed)
		}
	}
}

// TestSeedsPerReplicaCount pins each cluster size with faults kept away
// from the primary.
func TestSeedsPerReplicaCount(t *testing.T) {
	for _, n := range []int{1, 3, 5} {
		for seed := uint64(1); seed <= 5; seed++ {
			r := Run(Options{Seed: seed, Replicas: n, NoPrimaryFaults: true, Ticks: 1500})
			if r.Failed() {
				t.Errorf("replicas %d: %s", n, r.Report())
			}
		}
	}
}

func TestDeterminism(t *testing.T) {
	for _, seed := range []uint64{3, 10, 31} {
		a, b := Run(Options{Seed: seed}), Run(Options{Seed: seed})
		if a.Fingerprint != b.Fingerprint || a.Stats != b.Stats || len(a.Digests) != len(b.Digests) {
			t.Fatalf("seed %d: two runs differ: %x/%x %+v/%+v", seed, a.Fingerprint, b.Fingerprint, a.Stats, b.Stats)
		}
		for i := range a.Digests {
			if a.Digests[i] != b.Digests[i] {
				t.Fatalf("seed %d: replica %d digests differ", seed, i)
			}
		}
		if (a.Err == nil) != (b.Err == nil) || (a.Err != nil && a.Err.Error() != b.Err.Error()) {
			t.Fatalf("seed %d: outcomes differ: %v / %v", seed, a.Err, b.Err)
		}
		c := Run(Options{Seed: seed + 1000})
		if c.Fingerprint == a.Fingerprint {
			t.Fatalf("seeds %d and %d have the same fingerprint", seed, seed+1000)
		}
	}
}

// TestLyingNetworkIsCaught: a network that forges a prepare and reseals
// its checksums makes a backup commit an op the cluster did not; the hash
// chain checker must catch it.
func TestLyingNetworkIsCaught(t *testing.T) {
	caught := 0
	for seed := uint64(1); seed <= 5; seed++ {
		r := Run(Options{Seed: seed, Replicas: 3, NoFaults: true, Lie: LieResealPrepare, Ticks: 600})
		if !r.Failed() {
			t.Errorf("seed %d: forged prepare not caught", seed)
			continue
		}
		if r.Invariant() == InvariantHashChain {
			caught++
		}
		t.Logf("seed %d: %v", seed, r.Err)
	}
	if caught == 0 {
		t.Fatalf("the hash chain checker never caught the forged prepare")
	}
}

// TestSeedsPowerLoss runs seeds with whole-cluster power losses added
// (Options.PowerLoss): every replica crashes at once and recovers from its
// data file; no committed op may be lost and the cluster must converge.
func TestSeedsPowerLoss(t *testing.T) {
	n := uint64(40)
	if testing.Short() {
		n = 10
	}
	losses := uint64(0)
	for seed := uint64(1); seed <= n; seed++ {
		r := Run(Options{Seed: seed, PowerLoss: true})
		if r.Failed() {
			t.Fatalf("seed %d with power losses: %v (rerun: chronon vopr --seed %d --power-loss)", seed, r.Err, seed)
		}
		losses += r.Stats.Faults[FaultPowerLoss]
	}
	if losses == 0 {
		t.Fatal("no power loss was injected")
	}
	t.Logf("%d seeds, %d power losses", n, losses)
}

// TestSeedsPowerLossRegressions replays power-loss seeds that failed,
// each with the fix it needed.
func TestSeedsPowerLossRegressions(t *testing.T) {
	for _, c := range []struct {
		seed     uint64
		replicas int
		why      string
	}{
		// The primary of view 0 lost its first prepare write in flight
		// and restarted with an empty journal as a fresh primary of view
		// 0: it numbered a different op 1 while backups held the first
		// (a divergent commit) until the data file was marked started.
		{1491, 3, "hash_chain: replica 1 committed op 1 with another checksum"},
		// The only whole vote had an older log_view than a damaged vote
		// (its journal ended below the log head of its newer view), the
		// third replica withheld: the install waited for good until the
		// damaged vote sent its log anchor (agreesWithNewerLog).
		{6904, 3, "liveness: damaged vote of a newer log_view"},
		{7271, 3, "liveness: damaged vote of a newer log_view"},
		{7332, 3, "liveness: damaged vote of a newer log_view"},
		// A power loss left every replica damaged (one with an
		// unreadable op in the middle of its log, two ending below the
		// log head): no whole vote, no view, for good — until a damaged
		// replica repaired its own log from its journal and its peers.
		{6807, 3, "liveness: every replica damaged"},
		// Recovery wrote its damaged bound with the commit numbers read
		// before replay took a checkpoint: commit_max went back (panic).
		{33587, 5, "panic: journal: commit_max goes back"},
		// Four misdirected truncation writes in a row to one slot at 3 %
		// misdirection: the journal gave up (panic).
		{34044, 5, "panic: slot still holds its discarded prepare"},
		// A replica in a view change repaired ops 146 and 147 of a newer
		// view than its log_view: the log anchor at 147 changed within
		// one log_view (an assertion that it never does panicked).
		{34401, 5, "panic: two headers of op 147 in log_view 9"},
		// The new primary of 5 asked for the ops it lacked in turns that
		// followed the tick; rounds came every 10 ticks, so it asked the
		// same two replicas, which lacked ops 191 and 193, for good.
		{32112, 5, "liveness: repair asked the same peer every round"},
	} {
		r := Run(Options{Seed: c.seed, Replicas: c.replicas, PowerLoss: true})
		if r.Failed() {
			t.Errorf("seed %d (%d replicas; was %s): %s", c.seed, c.replicas, c.why, r.Report())
		}
	}
}

// TestSeedsPause runs seeds with pauses in the fault mix (Options.Pause): a
// replica, mostly the primary, stopped as with SIGSTOP and then handed all
// it missed in one burst. Seeds 2 and 19 exhausted the resumed replica's
// message pool (a panic while it committed as a backup) before journal
// writes in flight were capped.
func TestSeedsPause(t *testing.T) {
	// Seed 6 pauses replicas three times in the current mix (2 and 19
	// no longer pause any).
	seeds := []uint64{2, 19, 6}
	if !testing.Short() {
		for seed := uint64(1); seed <= 40; seed++ {
			if seed != 2 && seed != 19 && seed != 6 {
				seeds = append(seeds, seed)
			}
		}
	}
	pauses := uint64(0)
	for _, seed := range seeds {
		r := Run(Options{Seed: seed, Pause: true})
		if r.Failed() {
			t.Errorf("%s", r.Report())
		}
		pauses += r.Stats.Faults[FaultPause]
	}
	if pauses == 0 {
		t.Errorf("seeds %v injected no pause", seeds)
	}
}

// TestSeedsPeerLoss runs seeds whose crashed replicas' peers learn that
// their connections closed (Options.PeerLoss): backups of a crashed primary
// start the view change early. Safety and convergence must hold as in the
// default mix.
func TestSeedsPeerLoss(t *testing.T) {
	n := uint64(40)
	if testing.Short() {
		n = 10
	}
	signals := uint64(0)
	for seed := uint64(1); seed <= n; seed++ {
		r := Run(Options{Seed: seed, PeerLoss: true})
		if r.Failed() {
			t.Fatalf("seed %d with peer loss: %v (rerun: chronon vopr --seed %d --peer-loss)", seed, r.Err, seed)
		}
		signals += r.Stats.PeerLossSignals
	}
	if signals == 0 {
		t.Fatal("no lost connection was reported")
	}
	t.Logf("%d seeds, %d lost connections reported", n, signals)
}

// TestLyingSyncChunkIsNotInstalled: a network that changes bytes of state
// sync chunks and manifest pages and reseals them gets past the wire
// checksums; the receiving replica must check each chunk against the
// manifest, the manifest against the id its offer named, and never
// install a forged checkpoint (which would leave its state
// digest apart from the others' and fail liveness, or break a checker).
func TestLyingSyncChunkIsNotInstalled(t *testing.T) {
	n := uint64(40)
	if testing.Short() {
		n = 20 // the first seeds that run a state sync under this workload: 15, 18, 20
	}
	lies := uint64(0)
	for seed := uint64(1); seed <= n; seed++ {
		r := Run(Options{Seed: seed, Replicas: 3, Lie: LieResealSyncChunk})
		if r.Failed() {
			t.Errorf("seed %d with forged sync chunks: %s", seed, r.Report())
		}
		lies += r.Stats.LiesTold
	}
	if lies == 0 {
		t.Fatal("no sync chunk was forged: no seed ran a state sync")
	}
	t.Logf("%d seeds, %d sync chunks forged", n, lies)
}
