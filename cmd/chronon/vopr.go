package main

import (
	"flag"
	"fmt"
	"io"
	"time"

	"github.com/chronon-db/chronon/sim"
)

func init() {
	register(command{name: "vopr", summary: "run the deterministic cluster simulator (--seed N, or --seeds K)", run: runVOPR})
}

func runVOPR(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("vopr", flag.ContinueOnError)
	fs.SetOutput(stderr)
	seed := fs.Uint64("seed", 0, "run this one seed, verbosely on failure")
	seeds := fs.Int("seeds", 0, "run this many seeds (from --start) and print a summary")
	start := fs.Uint64("start", 1, "first seed of --seeds")
	replicas := fs.Int("replicas", 0, "replica count: 1, 3 or 5 (0: from the seed)")
	clients := fs.Int("clients", 0, "client count (0: from the seed)")
	ticks := fs.Int("ticks", 0, fmt.Sprintf("ticks of the fault phase (0: %d)", sim.DefaultTicks))
	liveness := fs.Int("liveness-ticks", 0, fmt.Sprintf("tick bound of the fault-free phase (0: %d)", sim.DefaultLivenessTicks))
	workload := fs.String("workload", "random", "kv, ledger or random")
	noPrimary := fs.Bool("no-primary-faults", false, "keep faults away from the primary")
	noFaults := fs.Bool("no-faults", false, "inject no faults")
	powerLoss := fs.Bool("power-loss", false, "add whole-cluster power losses to the fault mix")
	pause := fs.Bool("pause", false, "add pauses (SIGSTOP, then everything missed in one burst) to the fault mix")
	checkpointRot := fs.Bool("checkpoint-rot", false, "add bit rot in grid blocks the durable checkpoint uses (replicas that are down)")
	peerLoss := fs.Bool("peer-loss", false, "tell a crashed replica's peers that their connections to it closed (early suspicion of a dead primary)")
	powerLossInFlight := fs.Bool("power-loss-in-flight", false, "power losses also lose or tear prepare writes in flight")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	o := sim.Options{Replicas: *replicas, Clients: *clients, Ticks: *ticks, LivenessTicks: *liveness,
		NoPrimaryFaults: *noPrimary, NoFaults: *noFaults, PowerLoss: *powerLoss, Pause: *pause,
		CheckpointRot: *checkpointRot, PeerLoss: *peerLoss,
		PowerLossInFlight: *powerLossInFlight}
	switch *workload {
	case "kv":
		o.Workload = sim.WorkloadKV
	case "ledger":
		o.Workload = sim.WorkloadLedger
	case "random":
	default:
		fmt.Fprintf(stderr, "vopr: unknown workload %q\n", *workload)
		return 2
	}
	if *seeds == 0 {
		o.Seed = *seed
		began := time.Now()
		r := sim.Run(o)
		if r.Failed() {
			fmt.Fprint(stdout, r.Report())
			return 1
		}
		fmt.Fprintf(stdout, "seed %d passed in %v: %s\n", r.Seed, time.Since(began).Round(time.Millisecond), r.Scenario)
		fmt.Fprintf(stdout, "ops committed %d, requests %d, replies %d, restarts %d, fingerprint %016x%016x\n",
			r.Stats.OpsCommitted, r.Stats.Requests, r.Stats.Replies, r.Stats.Restarts, r.Fingerprint.Hi, r.Fingerprint.Lo)
		return 0
	}
	return voprSeeds(o, *start, *seeds, stdout)
}

func voprSeeds(o sim.Options, start uint64, count int, stdout io.Writer) int {
	began := time.Now()
	var total sim.Stats
	failed := map[string][]uint64{}
	var order []string
	passed := 0
	for i := 0; i < count; i++ {
		o.Seed = start + uint64(i)
		r := sim.Run(o)
		total.Add(&r.Stats)
		if !r.Failed() {
			passed++
			continue
		}
		inv := r.Invariant()
		if _, ok := failed[inv]; !ok {
			order = append(order, inv)
		}
		failed[inv] = append(failed[inv], r.Seed)
		fmt.Fprintf(stdout, "seed %d FAILED: %.300v\n", r.Seed, r.Err)
	}
	fmt.Fprintf(stdout, "\n%d seeds (%d..%d) in %v: %d passed, %d failed\n", count, start, start+uint64(count)-1,
		time.Since(began).Round(time.Millisecond), passed, count-passed)
	for _, inv := range order {
		fmt.Fprintf(stdout, "  %-14s %d seeds: %v\n", inv, len(failed[inv]), failed[inv])
	}
	fmt.Fprintf(stdout, "ticks %d, ops committed %d, requests %d, replies %d, retries %d, redirects followed %d, evictions %d, restarts %d, messages %d\n",
		total.Ticks, total.OpsCommitted, total.Requests, total.Replies, total.Retries, total.Redirects, total.Evictions, total.Restarts, total.Messages)
	fmt.Fprintf(stdout, "restarts withholding their vote %d, corrupted messages dropped by their receivers %d, rogue frames dropped %d of %d\n",
		total.RestartsWithholding, total.CorruptDropped, total.RogueDropped, total.Faults[sim.FaultRogueFrame])
	fmt.Fprintf(stdout, "large replies %d, retries answered eviction(reply_dropped) %d\n", total.LargeReplies, total.RepliesDropped)
	sy := &total.Sync
	fmt.Fprintf(stdout, "state syncs %d (failed %d): chunks fetched %d (%d bytes), filled locally %d, refused %d\n",
		sy.Done, sy.Failed, sy.ChunksFetched, sy.BytesFetched, sy.ChunksLocal, sy.ChunksRefused)
	gr := &total.Grid
	fmt.Fprintf(stdout, "transfers in the grid: most dropped from one ledger's memory %d, block reads %d (cache misses %d), prefetches failed %d, chunks unreadable %d, repairs asked %d, repaired %d, manifest entries sealed ahead %d\n",
		gr.Dropped, gr.BlockHits+gr.BlockMisses, gr.BlockMisses, gr.PrefetchFailed, gr.ChunksUnreadable, gr.Requested, gr.Repaired, gr.SealedAhead)
	fmt.Fprintf(stdout, "ledger reads: replies checked %d (transfers returned %d); prefetches of reads from the grid %d, failed %d\n",
		gr.RepliesChecked, gr.TransfersFound, gr.Reads, gr.ReadsFailed)
	ob := &total.Outbox
	fmt.Fprintf(stdout, "effects: emitted %d, dispatched %d, delivered %d, applied at the receiver %d (replayed %d, fenced %d), acks committed %d\n",
		ob.Emitted, ob.Dispatched, ob.Delivered, ob.Applied, ob.Deduplicated, ob.Fenced, ob.AcksCommitted)
	fmt.Fprintf(stdout, "effects: duplicate applications %d (must be 0), deliveries from a non-primary %d (must be 0)\n",
		ob.DuplicateApplications, ob.NonPrimaryDeliveries)
	fmt.Fprintf(stdout, "effects: most open in a table %d; admission held %d requests, %d prepared after the wait; outbox_full answers %d\n",
		ob.OpenMax, ob.AdmissionHeld, ob.AdmissionExpired, ob.OutboxFull)
	if o.PeerLoss {
		fmt.Fprintf(stdout, "lost connections reported to peers %d\n", total.PeerLossSignals)
	}
	fmt.Fprintf(stdout, "faults injected:\n")
	for _, k := range sim.FaultKinds() {
		fmt.Fprintf(stdout, "  %-22s %d\n", k, total.Faults[k])
	}
	if passed != count {
		return 1
	}
	return 0
}
