package sim

import "testing"

// TestOutboxSeeds runs ledger seeds with primary faults and reports the
// outbox's counts: every seed must pass (0 lost, 0 duplicates) and every
// effect fault kind must be injected.
func TestOutboxSeeds(t *testing.T) {
	n := uint64(60)
	if testing.Short() {
		n = 15
	}
	var total Stats
	for seed := uint64(1); seed <= n; seed++ {
		r := Run(Options{Seed: seed, Workload: WorkloadLedger})
		if r.Failed() {
			t.Errorf("%s", r.Report())
		}
		total.Add(&r.Stats)
	}
	t.Logf("outbox: %+v", total.Outbox)
	for _, k := range []FaultKind{FaultSinkTransientFailure, FaultSinkLostReply, FaultAckLost, FaultCrashPrimaryMidDispatch, FaultReceiverCrash} {
		t.Logf("%s: %d", k, total.Faults[k])
		if total.Faults[k] == 0 && !testing.Short() {
			t.Errorf("fault %s never injected", k)
		}
	}
	if total.Outbox.Applied == 0 {
		t.Errorf("no effect was applied at the sink")
	}
	// Admission is on (as node runs it) and the seeds with a small table
	// fill it: requests are held, some prepared after the wait into a full
	// table and answered outbox_full, each checked on every replica.
	ob := &total.Outbox
	if ob.AdmissionHeld == 0 || (!testing.Short() && (ob.AdmissionExpired == 0 || ob.OutboxFull == 0)) {
		t.Errorf("admission not exercised: held %d, expired %d, outbox_full %d", ob.AdmissionHeld, ob.AdmissionExpired, ob.OutboxFull)
	}
}
