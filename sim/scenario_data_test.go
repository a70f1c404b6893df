package sim

import (
	"fmt"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/chronon-db/chronon/journal"
	"github.com/chronon-db/chronon/replica"
	"github.com/chronon-db/chronon/wire"
)

// TestScenarios runs every behaviour scenario in testdata/scenarios on the
// simulator's real replicas, journals and checkers (docs/simulator.md,
// "Scenario files"). Each file is one behaviour; its first directive,
// cluster, names the replica counts and seeds it runs for. Regenerate the
// expected outputs with
//
//	go test ./sim -run TestScenarios -rewrite
//
// and review the diff.
func TestScenarios(t *testing.T) {
	files, err := filepath.Glob("testdata/scenarios/*.txt")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no scenario files")
	}
	for _, path := range files {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txt"), func(t *testing.T) {
			f, err := parseDD(path)
			if err != nil {
				t.Fatal(err)
			}
			variants, err := scenarioVariants(f)
			if err != nil {
				t.Fatalf("%s: %v", path, err)
			}
			names := make([]string, len(variants))
			for i, v := range variants {
				names[i] = v.name
			}
			runDD(t, f, names, func(t *testing.T, i int, f *ddFile) []string {
				v := variants[i]
				if v.variable != "" {
					f = f.substitute(v.variable, v.value)
				}
				return runScenario(t, v.replicas, v.seed, f)
			})
		})
	}
}

// scenarioVariant is one run of a scenario file.
type scenarioVariant struct {
	name     string // as the expected outputs show it where runs differ
	replicas int
	seed     uint64
	// variable ($name) takes value in every directive ("": none).
	variable, value string
}

// scenarioVariants returns the runs the first directive of f, cluster,
// asks for: one per replica count, seed and value of its variable. A
// variable $name=v1,v2 on cluster runs the file once per value, with
// $name replaced by it in every directive.
func scenarioVariants(f *ddFile) ([]scenarioVariant, error) {
	if len(f.directives) == 0 || f.directives[0].cmd != "cluster" {
		return nil, fmt.Errorf("the first directive must be cluster")
	}
	c := f.directives[0]
	counts, err := c.ints("replicas", 3)
	if err != nil {
		return nil, err
	}
	seeds, err := c.ints("seed", 1)
	if err != nil {
		return nil, err
	}
	variable := ddArg{vals: []string{""}}
	found := false
	for _, a := range c.args {
		if strings.HasPrefix(a.key, "$") {
			if found {
				return nil, fmt.Errorf("one variable at most")
			}
			variable, found = a, true
		}
	}
	var out []scenarioVariant
	for _, n := range counts {
		for _, seed := range seeds {
			for _, value := range variable.vals {
				name := fmt.Sprintf("replicas=%d", n)
				if len(seeds) > 1 {
					name += fmt.Sprintf(" seed=%d", seed)
				}
				if found {
					name += fmt.Sprintf(" %s=%s", variable.key, value)
				}
				out = append(out, scenarioVariant{name: name, replicas: n, seed: uint64(seed), variable: variable.key, value: value})
			}
		}
	}
	return out, nil
}

// scenarioRun is the state of one scenario file run for one replica count
// and seed.
type scenarioRun struct {
	replicas int
	seed     uint64
	s        *Sim
	// filters drop matching replica-to-replica messages after every tick.
	filters []msgFilter
	// reported: s.err was printed already.
	reported bool
}

// msgFilter matches replica-to-replica messages (nil fields match all).
type msgFilter struct {
	from, to []int
	commands []wire.Command
}

func (m *msgFilter) match(p *packet, h *wire.Header) bool {
	return (m.from == nil || slices.Contains(m.from, p.from)) && (m.to == nil || slices.Contains(m.to, p.to)) &&
		(m.commands == nil || slices.Contains(m.commands, h.Command))
}

// runScenario runs the directives of f on a cluster of n replicas from
// seed and returns their outputs. A panic (a broken assertion in a
// replica or its journal) fails the test with the simulator's trace.
func runScenario(t *testing.T, n int, seed uint64, f *ddFile) (outputs []string) {
	r := &scenarioRun{replicas: n, seed: seed}
	var cur *ddDirective
	defer func() {
		if p := recover(); p != nil {
			trace := ""
			if r.s != nil {
				trace = r.s.traceTail()
			}
			t.Fatalf("%s:%d (replicas=%d seed=%d): %s: panic: %v\n%s\ntrace:\n%s", f.path, cur.line, n, seed, cur.raw, p, debug.Stack(), trace)
		}
	}()
	for _, d := range f.directives {
		cur = d
		out, err := r.do(d)
		if err != nil {
			t.Fatalf("%s:%d: %s: %v", f.path, d.line, d.raw, err)
		}
		if r.s != nil && r.s.err != nil && !r.reported {
			r.reported = true
			out += fmt.Sprintf("\nerror: %v", r.s.err)
			t.Logf("replicas=%d seed=%d: trace at the error:\n%s", n, seed, r.s.traceTail())
		}
		outputs = append(outputs, clean(out))
	}
	return outputs
}

// do runs one directive and returns its output; an error is a mistake in
// the scenario file.
func (r *scenarioRun) do(d *ddDirective) (string, error) {
	if d.cmd == "cluster" {
		return "", r.cluster(d)
	}
	if r.s == nil {
		return "", fmt.Errorf("no cluster yet")
	}
	s := r.s
	switch d.cmd {
	case "network":
		return "", r.network(d)
	case "request":
		n, err := d.int("n", 1)
		if err != nil {
			return "", err
		}
		cs, err := r.clientsOf(d)
		if err != nil {
			return "", err
		}
		for _, c := range cs {
			c.budget = max(c.budget, 0) + n
			r.wake(c)
		}
		return "", nil
	case "client-stop":
		// The clients give up their pending request and their session
		// (sim client restart) and send nothing until the next request or
		// liveness, when they register anew.
		cs, err := r.clientsOf(d)
		if err != nil {
			return "", err
		}
		for _, c := range cs {
			c.restart()
			c.budget, c.nextAt = 0, clientStopped
		}
		return "", nil
	case "tick":
		n, err := d.int("n", 1)
		if err != nil {
			return "", err
		}
		for range n {
			r.step()
		}
		return "", nil
	case "run":
		return r.run(d)
	case "liveness":
		// The simulator's own end of a run: every fault healed, down
		// replicas restarted, each client sends a few more requests; the
		// cluster must converge, then the final checks.
		for _, c := range s.clients {
			r.wake(c)
		}
		if s.err == nil {
			s.liveness()
		}
		if s.err == nil {
			s.finalChecks()
		}
		return "", nil
	case "partition":
		return "", r.partition(d)
	case "heal":
		s.net.heal()
		return "", nil
	case "filter":
		if d.has("clear") {
			r.filters = nil
			return "", nil
		}
		m, err := r.filter(d)
		r.filters = append(r.filters, m)
		return "", err
	case "drop":
		m, err := r.filter(d)
		if err == nil {
			s.scriptDrop(m.match)
		}
		return "", err
	case "crash", "power-loss":
		return "", r.crash(d)
	case "restart":
		hs, err := r.hostsOf(d, false)
		if err != nil {
			return "", err
		}
		for _, h := range hs {
			if h.up {
				return "", fmt.Errorf("replica %d is up", h.index)
			}
			h.reformat = d.has("reformat")
			h.crashWrites = -1
			s.restart(h)
		}
		return "", nil
	case "corrupt":
		return "", r.corrupt(d)
	case "storage":
		// Storage faults of a replica: misdirect-write=P misdirect-read=P
		// (the chance that a write or read of the WAL lands on, or comes
		// from, another slot).
		hs, err := r.hostsOf(d, false)
		if err != nil {
			return "", err
		}
		for _, h := range hs {
			st := h.storage
			if st.misdirectWrite, err = d.float("misdirect-write", st.misdirectWrite); err != nil {
				return "", err
			}
			if st.misdirectRead, err = d.float("misdirect-read", st.misdirectRead); err != nil {
				return "", err
			}
		}
		return "", nil
	case "record-vsr":
		// every=N: persist.RecordVSR (the commit number in the superblock)
		// every N ticks instead of 10.
		n, err := d.int("every", 10)
		if err != nil || n < 1 {
			return "", fmt.Errorf("every=N, N >= 1: %v", err)
		}
		s.recordEvery = uint64(n)
		return "", nil
	case "arm-crash":
		// The replica crashes inside the write after the next n (its
		// storage takes n more writes, then fails like a machine that
		// stopped), as Options' mid-write crashes do.
		hs, err := r.hostsOf(d, false)
		if err != nil {
			return "", err
		}
		n, err := d.int("writes", -1)
		if err != nil || n < 0 {
			return "", fmt.Errorf("writes=N: %v", err)
		}
		for _, h := range hs {
			if !h.up {
				return "", fmt.Errorf("replica %d is down", h.index)
			}
			h.crashWrites = h.storage.Writes() + n
			h.storage.CrashAfterWrites(n)
		}
		return "", nil
	case "peer-lost":
		hs, err := r.hostsOf(d, false)
		if err != nil {
			return "", err
		}
		peer, err := d.int("peer", -1)
		if err != nil || peer < 0 || peer >= len(s.hosts) {
			return "", fmt.Errorf("peer=%d: %v", peer, err)
		}
		for _, h := range hs {
			h.call(func(rp *replica.Replica) { rp.OnPeerLost(uint8(peer)) })
		}
		return "", nil
	case "pause":
		hs, err := r.hostsOf(d, false)
		if err != nil || len(hs) != 1 || !hs[0].up || s.pause.active {
			return "", fmt.Errorf("pause needs one replica that is up, none paused (%v)", err)
		}
		h := hs[0]
		s.pause = pauseState{active: true, index: int(h.index), incarnation: h.replica, until: ^uint64(0), held: s.pause.held[:0]}
		return "", nil
	case "resume":
		if d.has("drop") {
			// Its connections closed meanwhile: what was held is lost.
			if !s.pause.active {
				return "", fmt.Errorf("no replica paused")
			}
			s.endPause(false)
			return "", nil
		}
		return r.resume()
	case "status":
		return r.status(d)
	case "counters":
		return r.counters(d)
	case "log":
		return r.log(d)
	}
	return "", fmt.Errorf("unknown command %q", d.cmd)
}

// clientStopped is the nextAt of a client client-stop stopped: it sends
// nothing until request or liveness wakes it.
const clientStopped = ^uint64(0)

// wake lets a client client-stop stopped send again from now.
func (r *scenarioRun) wake(c *client) {
	if c.nextAt == clientStopped {
		c.nextAt = r.s.now
	}
}

// cluster builds the simulator: cluster replicas=3,5 clients=1 seed=1,2
// workload=kv|ledger [peer-loss] (the file runs once per replica count
// and seed). Clients register, then send only what
// request gives them.
func (r *scenarioRun) cluster(d *ddDirective) error {
	if r.s != nil {
		return fmt.Errorf("cluster twice")
	}
	clients, err := d.int("clients", 1)
	if err != nil {
		return err
	}
	o := Options{Seed: r.seed, Replicas: r.replicas, Clients: clients, Workload: WorkloadKV, NoFaults: true, PeerLoss: d.has("peer-loss"), InstantStorage: true, Prepares: PreparesEager}
	switch w := d.str("workload", "kv"); w {
	case "kv":
	case "ledger":
		o.Workload = WorkloadLedger
	default:
		return fmt.Errorf("workload=%s", w)
	}
	s, err := New(o)
	if err != nil {
		return err
	}
	s.faultPhase = false
	for _, c := range s.clients {
		c.budget = 0
	}
	r.s = s
	return r.network(d)
}

// network sets the network's faults: loss=0.1 dup=0.1 latency=1,4
// storage-latency=N (ticks before a journal completion reaches the
// replica).
func (r *scenarioRun) network(d *ddDirective) error {
	sc := r.s.sc
	var err error
	if sc.lossPct, err = d.float("loss", sc.lossPct); err != nil {
		return err
	}
	if sc.dupPct, err = d.float("dup", sc.dupPct); err != nil {
		return err
	}
	if d.has("latency") {
		l, err := d.ints("latency")
		if err != nil || len(l) != 2 || l[0] < 1 || l[1] < l[0] {
			return fmt.Errorf("latency=min,max with 1 <= min <= max")
		}
		sc.latencyMin, sc.latencyMax = uint64(l[0]), uint64(l[1])
	}
	sl, err := d.int("storage-latency", int(sc.storageLatencyMax))
	sc.storageLatencyMax = uint64(sl)
	return err
}

// step advances one tick, then applies the message filters and checks
// that no view started without a committed op (the simulator's checkers
// see that only once another op commits at its number).
func (r *scenarioRun) step() {
	s := r.s
	s.Step()
	for _, m := range r.filters {
		s.scriptDrop(m.match)
	}
	if s.err != nil {
		return
	}
	// The primary of the highest view (a stale primary of an older view,
	// cut off, may well lack ops the newer views committed).
	top := s.chain.highest()
	view := uint32(0)
	for _, h := range s.hosts {
		if h.up {
			view = max(view, h.replica.View())
		}
	}
	for _, h := range s.hosts {
		if rp := h.replica; h.up && rp.View() == view && rp.Status() == replica.StatusNormal && rp.IsPrimary() && rp.Op() < top {
			s.fail(violation(InvariantAckedLost, "view %d started by replica %d with its log ending at op %d; ops up to %d were committed",
				rp.View(), h.index, rp.Op(), top))
		}
	}
}

// run steps until a condition holds: run until=COND [max=N]
// [replica=...]. Conditions (over the replicas given, or every replica
// that is up): committed (clients idle; every replica at the same commit
// with nothing uncommitted), converged (the simulator's own: all up,
// normal, one view, one state, clients idle), view-change (normal in one
// view above the highest view at the start), normal [view=V] (up and
// normal, in view V or above), primary [view=V] (one of them is a normal
// primary above view V, default the highest view at the start), synced
// [repaired] (each completed a state sync, and holds an op above its
// checkpoint), view view=V (up in view V or above, any status), down
// (each is down: an armed crash happened), clients-idle.
func (r *scenarioRun) run(d *ddDirective) (string, error) {
	s := r.s
	limit, err := d.int("max", 20_000)
	if err != nil {
		return "", err
	}
	hs, err := r.hostsOf(d, true)
	if err != nil {
		return "", err
	}
	var startView uint32
	for _, h := range hs {
		if h.up {
			startView = max(startView, h.replica.View())
		}
	}
	idle := func() bool {
		for _, c := range s.clients {
			if !c.idle() {
				return false
			}
		}
		return true
	}
	// every: the condition that ok holds for every replica given.
	every := func(ok func(h *host) bool) func() bool {
		return func() bool {
			for _, h := range hs {
				if !ok(h) {
					return false
				}
			}
			return true
		}
	}
	var cond func() bool
	switch until := d.str("until", ""); until {
	case "clients-idle":
		cond = idle
	case "view":
		// Every replica given is up in view=V or above (any status).
		v, err := d.int("view", 0)
		if err != nil {
			return "", err
		}
		cond = every(func(h *host) bool { return h.up && h.replica.View() >= uint32(v) })
	case "down":
		// Every replica given is down (an armed crash happened).
		cond = every(func(h *host) bool { return !h.up })
	case "committed":
		cond = func() bool {
			if !idle() {
				return false
			}
			commit, first := uint64(0), true
			for _, h := range hs {
				if !h.up || s.paused(int(h.index)) {
					continue
				}
				rp := h.replica
				if rp.Op() != rp.CommitMin() || (!first && rp.CommitMin() != commit) {
					return false
				}
				commit, first = rp.CommitMin(), false
			}
			return true
		}
	case "converged":
		cond = s.converged
	case "synced":
		// Every replica given completed a state sync (and, with repaired,
		// holds an op above the checkpoint it copied).
		repaired := d.has("repaired")
		cond = every(func(h *host) bool {
			return h.up && h.replica.Counters.SyncsDone > 0 &&
				(!repaired || h.replica.Op() > h.journal.Superblock().VSR.CheckpointOp)
		})
	case "normal":
		// Every replica given is up and normal (in view >= view=V).
		v, err := d.int("view", 0)
		if err != nil {
			return "", err
		}
		cond = every(func(h *host) bool {
			return h.up && h.replica.Status() == replica.StatusNormal && h.replica.View() >= uint32(v)
		})
	case "primary":
		// A replica given is up, normal and primary in a view above
		// view=V (default: the highest view at the start).
		v, err := d.int("view", int(startView))
		if err != nil {
			return "", err
		}
		cond = func() bool {
			for _, h := range hs {
				if rp := h.replica; h.up && rp.Status() == replica.StatusNormal && rp.IsPrimary() && rp.View() > uint32(v) {
					return true
				}
			}
			return false
		}
	case "view-change":
		cond = func() bool {
			view := uint32(0)
			for _, h := range hs {
				if !h.up || h.replica.Status() != replica.StatusNormal || (view != 0 && h.replica.View() != view) {
					return false
				}
				view = h.replica.View()
			}
			return view > startView
		}
	default:
		return "", fmt.Errorf("until=%s", until)
	}
	for t := 0; t < limit && s.err == nil; t++ {
		if cond() {
			return "", nil
		}
		r.step()
	}
	if s.err == nil && cond() {
		return "", nil
	}
	return fmt.Sprintf("timeout: %s", s.describe()), nil
}

// partition cuts links: partition isolate=i (both directions, to every
// other replica) or partition from=a,b to=c (one direction).
func (r *scenarioRun) partition(d *ddDirective) error {
	s := r.s
	n := len(s.hosts)
	valid := func(xs []int) bool {
		for _, x := range xs {
			if x < 0 || x >= n {
				return false
			}
		}
		return len(xs) > 0
	}
	if d.has("isolate") {
		iso, err := d.ints("isolate")
		if err != nil || !valid(iso) {
			return fmt.Errorf("isolate: %v", err)
		}
		for _, i := range iso {
			for j := range n {
				if !slices.Contains(iso, j) {
					s.net.cut[i][j], s.net.cut[j][i] = true, true
				}
			}
		}
		return nil
	}
	from, err1 := d.ints("from")
	to, err2 := d.ints("to")
	if err1 != nil || err2 != nil || !valid(from) || !valid(to) {
		return fmt.Errorf("partition needs isolate= or from= and to=")
	}
	for _, a := range from {
		for _, b := range to {
			if a != b {
				s.net.cut[a][b] = true
			}
		}
	}
	return nil
}

// filter parses from=.. to=.. command=prepare,prepare_ok.
func (r *scenarioRun) filter(d *ddDirective) (msgFilter, error) {
	var m msgFilter
	var err error
	if m.from, err = d.ints("from"); err != nil {
		return m, err
	}
	if m.to, err = d.ints("to"); err != nil {
		return m, err
	}
	for _, name := range d.vals("command") {
		c := wire.Command(0)
		for ; c < 255 && c.String() != name; c++ {
		}
		if c == 255 {
			return m, fmt.Errorf("command=%s: unknown", name)
		}
		m.commands = append(m.commands, c)
	}
	return m, nil
}

// crash kills replicas: crash replica=i [mode=keep|lose|random]
// [inflight=keep], or power-loss (every replica that is up) with the same
// options.
// mode says what happens to the storage's unsynced writes (default keep
// for crash: the process died, the kernel still has them; random for
// power-loss); the prepare writes in flight are lost or torn like them,
// or kept with inflight=keep.
func (r *scenarioRun) crash(d *ddDirective) error {
	s := r.s
	hs := s.hosts
	mode := d.str("mode", "keep")
	if d.cmd == "power-loss" {
		mode = d.str("mode", "random")
	} else {
		var err error
		if hs, err = r.hostsOf(d, false); err != nil {
			return err
		}
	}
	m, ok := map[string]journal.CrashMode{"keep": journal.CrashKeepAll, "lose": journal.CrashLoseAll, "random": journal.CrashRandom}[mode]
	if !ok {
		return fmt.Errorf("mode=%s", mode)
	}
	s.keepInflight = d.str("inflight", "") == "keep"
	defer func() { s.keepInflight = false }()
	for _, h := range hs {
		if !h.up {
			if d.cmd == "power-loss" {
				continue
			}
			return fmt.Errorf("replica %d is down", h.index)
		}
		if s.pause.active && s.pause.index == int(h.index) {
			s.endPause(false)
		}
		h.crash(m, "scenario")
	}
	return nil
}

// corrupt flips a bit in a down replica's journal: corrupt replica=i
// op=N|head|head-K|head+K [where=prepare|header].
func (r *scenarioRun) corrupt(d *ddDirective) error {
	hs, err := r.hostsOf(d, false)
	if err != nil {
		return err
	}
	// op=N, or op=head / op=head-K / op=head+K: the highest op committed
	// (minus or plus K).
	arg := d.str("op", "")
	var op, k int
	if rest, ok := strings.CutPrefix(arg, "head"); ok {
		if rest != "" {
			_, err = fmt.Sscanf(rest, "%d", &k)
		}
		op = int(r.s.chain.highest()) + k
	} else {
		op, err = strconv.Atoi(arg)
	}
	if err != nil || op <= 0 {
		return fmt.Errorf("op=%s: want N, head or head-K (%v)", arg, err)
	}
	for _, h := range hs {
		if h.up {
			return fmt.Errorf("replica %d is up: corrupt a replica that is down", h.index)
		}
		l := &h.layout
		slot := l.SlotOf(uint64(op))
		switch w := d.str("where", "prepare"); w {
		case "prepare":
			h.storage.FlipBit(l.PrepareOffset(slot)+wire.HeaderSize+3, 1)
		case "header":
			h.storage.FlipBit(l.HeaderSectorOffset(slot)+uint64(slot%(journal.SectorSize/wire.HeaderSize))*wire.HeaderSize+3, 1)
		default:
			return fmt.Errorf("where=%s", w)
		}
		h.damaged = true
	}
	return nil
}

// resume ends the pause: everything held reaches the replica in one
// burst, as sim.endPause delivers it, and it prints how many of those
// messages found the replica's message pool empty (a real bus would stop
// reading; the replica must keep few enough buffers that none does).
func (r *scenarioRun) resume() (string, error) {
	s := r.s
	p := &s.pause
	if !p.active {
		return "", fmt.Errorf("no replica paused")
	}
	h := s.hosts[p.index]
	if !s.paused(p.index) {
		s.endPause(false)
		return "", nil
	}
	p.active = false
	held := p.held
	p.held = p.held[:0]
	starved := 0
	for _, m := range held {
		if h.up && h.pool.Free() == 0 {
			starved++
			continue
		}
		s.deliver(m)
	}
	clear(held)
	return fmt.Sprintf("burst of %d messages to a pool of %d buffers: %d found it empty", len(held), h.pool.Count(), starved), nil
}

// status prints each replica (or those given): view, log view, status,
// op, commit; primary and rejoining when they are.
func (r *scenarioRun) status(d *ddDirective) (string, error) {
	return r.perReplica(d, func(b *strings.Builder, h *host) error {
		rp := h.replica
		fmt.Fprintf(b, "%d: view=%d log_view=%d %s op=%d commit=%d", h.index, rp.View(), rp.LogView(), rp.Status(), rp.Op(), rp.CommitMin())
		if rp.IsPrimary() {
			b.WriteString(" primary")
		}
		if rp.Rejoining() {
			b.WriteString(" rejoining")
		}
		if r.s.paused(int(h.index)) {
			b.WriteString(" paused")
		}
		b.WriteString("\n")
		return nil
	})
}

// counters prints replica.Counters fields: counters replica=i
// names=PreparesResent,ViewChanges.
func (r *scenarioRun) counters(d *ddDirective) (string, error) {
	names := d.vals("names")
	if len(names) == 0 {
		return "", fmt.Errorf("names= needed")
	}
	return r.perReplica(d, func(b *strings.Builder, h *host) error {
		fmt.Fprintf(b, "%d:", h.index)
		v := reflect.ValueOf(h.replica.Counters)
		for _, name := range names {
			f := v.FieldByName(name)
			if !f.IsValid() {
				return fmt.Errorf("no counter %s", name)
			}
			fmt.Fprintf(b, " %s=%d", name, f.Uint())
		}
		b.WriteString("\n")
		return nil
	})
}

// log prints what each replica's data file holds: its superblock's VSR
// state (log_op: the log head recorded with log_view), and the op range
// and ops to repair the journal found when it was opened: log
// [replica=i].
func (r *scenarioRun) log(d *ddDirective) (string, error) {
	return r.perReplica(d, func(b *strings.Builder, h *host) error {
		vsr := h.journal.Superblock().VSR
		rep := h.journal.Report()
		fmt.Fprintf(b, "%d: view=%d log_view=%d log_op=%d commit=%d/%d checkpoint=%d; at open: ops=%d..%d repair=%d\n", h.index,
			vsr.View, vsr.LogView, vsr.LogOp, vsr.CommitMin, vsr.CommitMax, vsr.CheckpointOp, rep.OpCheckpoint, rep.OpMax, len(rep.Repair))
		return nil
	})
}

// perReplica prints each replica given by replica= (or every replica):
// "i: down" for one that is down, what line writes for one that is up.
func (r *scenarioRun) perReplica(d *ddDirective, line func(b *strings.Builder, h *host) error) (string, error) {
	hs, err := r.hostsOf(d, true)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, h := range hs {
		if !h.up {
			fmt.Fprintf(&b, "%d: down\n", h.index)
			continue
		}
		if err := line(&b, h); err != nil {
			return "", err
		}
	}
	return b.String(), nil
}

// hostsOf returns the replicas named by replica= (numbers or "primary":
// the primary of the highest view), or every replica if all and none is
// named.
func (r *scenarioRun) hostsOf(d *ddDirective, all bool) ([]*host, error) {
	s := r.s
	names := d.vals("replica")
	if names == nil {
		if all {
			return s.hosts, nil
		}
		return nil, fmt.Errorf("replica= needed")
	}
	var hs []*host
	for _, name := range names {
		i, err := strconv.Atoi(name)
		if name == "primary" {
			i, _ = s.primary()
		} else if err != nil || i < 0 || i >= len(s.hosts) {
			return nil, fmt.Errorf("replica=%s: not a replica of %d", name, len(s.hosts))
		}
		hs = append(hs, s.hosts[i])
	}
	return hs, nil
}

// clientsOf returns the clients named by client=, or every client.
func (r *scenarioRun) clientsOf(d *ddDirective) ([]*client, error) {
	s := r.s
	idx, err := d.ints("client")
	if err != nil {
		return nil, err
	}
	if idx == nil {
		return s.clients, nil
	}
	var cs []*client
	for _, i := range idx {
		if i < 0 || i >= len(s.clients) {
			return nil, fmt.Errorf("client=%d: not a client", i)
		}
		cs = append(cs, s.clients[i])
	}
	return cs, nil
}

// scriptDrop removes in-flight replica messages for which drop returns
// true.
func (s *Sim) scriptDrop(drop func(p *packet, h *wire.Header) bool) {
	keep := s.net.packets[:0]
	for i := range s.net.packets {
		p := &s.net.packets[i]
		if p.from < clientBase && p.to < clientBase {
			var h wire.Header
			h.Decode(p.data)
			if drop(p, &h) {
				continue
			}
		}
		keep = append(keep, *p)
	}
	clear(s.net.packets[len(keep):])
	s.net.packets = keep
}

// traceTail renders the simulator's last trace lines for a failure.
func (s *Sim) traceTail() string {
	out := ""
	for _, l := range s.trace.tail() {
		out += "  " + l + "\n"
	}
	return out
}
