package chaos

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/chronon-db/chronon/client"
	"github.com/chronon-db/chronon/wire"
)

// lookupBatch is how many ids one lookup call carries (its reply must fit
// a test-preset message).
const lookupBatch = 256

// check runs the end-of-run checks once the load has stopped: the cluster
// converges, every acknowledged transfer exists, debits equal credits, every
// created transfer's effect was applied exactly once, no panics.
func (r *run) check(admin *client.Client) {
	log := r.cfg.Log
	rep := r.report
	rep.Calls = r.load.ackCount()
	for res, n := range r.load.failedResults {
		rep.ErrorResults += n
		rep.ResultCounts = append(rep.ResultCounts, fmt.Sprintf("%v %d", res, n))
	}
	slices.Sort(rep.ResultCounts)
	if _, ok := r.waitHealthy(); !ok {
		r.panicScan()
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), r.cfg.Deadline)
	defer cancel()
	created, err := r.lookup(ctx, admin)
	if err != nil {
		r.violation("lookups: %v", err)
		r.panicScan()
		return
	}
	rep.Created = len(created)
	for _, rg := range r.load.acked {
		for id := rg.first; id <= rg.last; id++ {
			rep.Acked++
			if !created[id] {
				r.violation("acknowledged transfer %d not found", id)
			}
		}
	}
	r.checkBalances(ctx, admin, len(created))
	if r.sink != nil {
		r.checkEffects(ctx, created)
	}
	// Converged: same commit, checksum and digest everywhere, twice in a
	// row half a second apart (nothing left to commit).
	var final Status
	why := waitFor(r.cfg.Deadline, func() string {
		s1, why := r.c.converged()
		if why != "" {
			return why
		}
		time.Sleep(500 * time.Millisecond)
		s2, why := r.c.converged()
		if why != "" {
			return why
		}
		if s1 != s2 {
			return fmt.Sprintf("still committing: %d then %d", s1.CommitMin, s2.CommitMin)
		}
		final = s2
		return ""
	})
	if why != "" {
		r.violation("no convergence within %v: %s", r.cfg.Deadline, why)
	}
	rep.FinalView, rep.FinalCommit = final.View, final.CommitMin
	log.Info("chaos: converged", "view", final.View, "commit", final.CommitMin, "digest", final.Digest)
	// The ledger did not change while the cluster settled.
	if again, err := r.lookup(ctx, admin); err != nil || len(again) != len(created) {
		r.violation("second lookup: %d transfers (first %d), %v", len(again), len(created), err)
	}
	r.stop()
	r.panicScan()
}

// lookup returns the ids of every transfer that exists, among all ids the
// load handed out.
func (r *run) lookup(ctx context.Context, admin *client.Client) (map[uint64]bool, error) {
	created := map[uint64]bool{}
	last := r.load.next.Load()
	ids := make([]wire.Uint128, 0, lookupBatch)
	for first := uint64(1); first <= last; first += lookupBatch {
		ids = ids[:0]
		for id := first; id < first+lookupBatch && id <= last; id++ {
			ids = append(ids, wire.Uint128{Lo: id})
		}
		got, err := admin.LookupTransfers(ctx, ids)
		if err != nil {
			return nil, err
		}
		for _, t := range got {
			if t.ID.Hi != 0 || t.ID.Lo < first || t.ID.Lo > last || created[t.ID.Lo] {
				return nil, fmt.Errorf("lookup returned transfer %v for ids %d..%d", t.ID, first, last)
			}
			created[t.ID.Lo] = true
		}
	}
	return created, nil
}

// checkBalances checks that debits equal credits equal the number of
// created transfers (each moves 1).
func (r *run) checkBalances(ctx context.Context, admin *client.Client, created int) {
	ids := make([]wire.Uint128, accounts)
	for i := range ids {
		ids[i] = wire.Uint128{Lo: uint64(i + 1)}
	}
	got, err := admin.LookupAccounts(ctx, ids)
	if err != nil || len(got) != accounts {
		r.violation("lookup accounts: %d of %d, %v", len(got), accounts, err)
		return
	}
	var debits, credits uint64
	for _, a := range got {
		debits += a.DebitsPosted.Lo
		credits += a.CreditsPosted.Lo
	}
	if debits != credits || debits != uint64(created) {
		r.violation("debits %d, credits %d, %d transfers created", debits, credits, created)
	}
}

// stop ends every replica with SIGTERM; each must exit cleanly.
func (r *run) stop() {
	for _, p := range r.c.procs {
		_ = p.Signal(syscall.SIGTERM)
	}
	for i, p := range r.c.procs {
		select {
		case <-p.done:
		case <-time.After(r.cfg.Deadline):
			r.violation("replica %d did not stop within %v of SIGTERM", i, r.cfg.Deadline)
			p.Kill()
			continue
		}
		if p.err != nil {
			r.violation("replica %d exit after SIGTERM: %v\n%s", i, p.err, tail(p.Out.String(), 4000))
		}
	}
}

// panicScan reports every panic in every replica's logs.
func (r *run) panicScan() {
	for _, p := range r.c.panics() {
		known := false
		for _, k := range r.cfg.KnownIssues {
			if strings.Contains(p, k) {
				known = true
			}
		}
		if known {
			r.report.KnownIssues = append(r.report.KnownIssues, p)
			continue
		}
		r.violation("panic in %s", p)
	}
}

// checkEffects checks, once every created transfer's effect was applied
// (or the deadline passed), that each was applied exactly once at the
// sink and that nothing else was.
func (r *run) checkEffects(ctx context.Context, created map[uint64]bool) {
	rep := r.report
	var applied map[uint64]int
	var deliveries, malformed int
	why := waitFor(r.cfg.Deadline, func() string {
		var err error
		if applied, deliveries, malformed, err = r.sink.Applied(ctx); err != nil {
			return fmt.Sprintf("counting the effects applied: %v", err)
		}
		if len(applied) < len(created) {
			return fmt.Sprintf("%d of %d effects applied", len(applied), len(created))
		}
		return ""
	})
	if why != "" {
		r.violation("effects: %s after %v", why, r.cfg.Deadline)
	}
	rep.Deliveries = deliveries
	twice, example := 0, uint64(0)
	for id, n := range applied {
		rep.Effects += n
		if n > 1 {
			twice++
			example = id
		}
		if !created[id] {
			r.violation("effect applied for transfer %d, which does not exist", id)
		}
	}
	rep.Duplicates = twice
	if twice > 0 {
		r.violation("%d effects applied more than once (e.g. transfer %d)", twice, example)
	}
	missing := 0
	for id := range created {
		if applied[id] == 0 {
			missing++
		}
	}
	if missing > 0 {
		r.violation("%d created transfers' effects never applied", missing)
	}
	if malformed > 0 {
		r.violation("%d malformed effect deliveries", malformed)
	}
}
