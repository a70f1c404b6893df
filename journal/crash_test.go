package journal

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

// crashScript is a scripted sequence of journal operations that records
// what was acknowledged, so a crash at any write can be checked against it.
type crashScript struct {
	c      *chain
	blobs  map[uint64]CheckpointData // by checkpoint op
	acked  map[uint64]bool           // ops whose WritePrepare returned nil
	tried  uint64                    // highest op submitted
	vsr    VSRState                  // last acknowledged superblock state
	trying *VSRState                 // superblock state being written, if any
}

const scriptOps = 100

var (
	scriptChain = newChain(ConfigTest, scriptOps, bodyVaried)
	// Checkpoint 90's state grows checkpoint 30's log (segment 1, stable)
	// and changes its header and table: it shares the log's blocks, and
	// the log's new full blocks are written ahead before it.
	scriptLog30 = &logSource{head: blob(30, 32), table: blob(32, 3000), log: blob(33, 20000)}
	scriptLog90 = &logSource{head: blob(90, 32), table: blob(92, 3000), log: append(append([]byte(nil), scriptLog30.log...), blob(93, 30000)...)}
	scriptBlobs = map[uint64]CheckpointData{
		30: withSessions(scriptLog30.data(), blob(31, 700)),
		90: withSessions(scriptLog90.data(), blob(91, 700)),
	}
)

func withSessions(d CheckpointData, sessions []byte) CheckpointData {
	d.Sessions = sessions
	return d
}

func newCrashScript() *crashScript {
	return &crashScript{c: scriptChain, blobs: scriptBlobs, acked: map[uint64]bool{}}
}

// run executes the script until the first error (the crash).
func (sc *crashScript) run(j *Journal) error {
	sc.vsr = j.Superblock().VSR
	appendOps := func(from, to uint64) error {
		for op := from; op <= to; op++ {
			sc.tried = op
			if err := j.WritePrepare(sc.c.msgs[op]); err != nil {
				return err
			}
			sc.acked[op] = true
		}
		return nil
	}
	setVSR := func(view uint32, commitMin, commitMax uint64) error {
		next := sc.vsr
		next.View, next.LogView, next.CommitMin, next.CommitMax = view, view, commitMin, commitMax
		sc.trying = &next
		if err := j.SetVSR(view, view, commitMin, commitMax); err != nil {
			return err
		}
		sc.vsr, sc.trying = next, nil
		return nil
	}
	checkpoint := func(op uint64) error {
		sc.trying = &VSRState{CheckpointOp: op} // only the op is compared
		if err := j.Checkpoint(op, sc.c.sums[op], sc.blobs[op]); err != nil {
			return err
		}
		sc.vsr, sc.trying = j.Superblock().VSR, nil
		return nil
	}
	if err := appendOps(1, 40); err != nil {
		return err
	}
	if err := setVSR(1, 0, 30); err != nil {
		return err
	}
	if err := checkpoint(30); err != nil {
		return err
	}
	// Ops 41..94 go in batches of 6, as a pipelining primary writes them.
	for from := uint64(41); from <= 94; from += 6 {
		batch := make([][]byte, 0, 6)
		for op := from; op < from+6; op++ {
			batch = append(batch, sc.c.msgs[op])
		}
		sc.tried = from + 5
		if err := j.WritePrepares(batch...); err != nil {
			return err
		}
		for op := from; op < from+6; op++ {
			sc.acked[op] = true
		}
	}
	if err := setVSR(2, 30, 90); err != nil {
		return err
	}
	for {
		n, err := j.Prewrite(scriptLog90, 1)
		if err != nil {
			return err
		}
		if n == 0 {
			break
		}
	}
	if err := checkpoint(90); err != nil {
		return err
	}
	return appendOps(95, scriptOps)
}

// check verifies a journal reopened after the crash: exactly the durable
// prefix, nothing acknowledged lost, nothing never written invented.
func (sc *crashScript) check(j *Journal) error {
	v := j.Superblock().VSR
	switch {
	case v.View == sc.vsr.View && v.CommitMax == sc.vsr.CommitMax && v.CheckpointOp == sc.vsr.CheckpointOp:
	case sc.trying != nil && sc.trying.CheckpointOp > 0 && v.CheckpointOp == sc.trying.CheckpointOp:
	case sc.trying != nil && v.View == sc.trying.View && v.CommitMax == sc.trying.CommitMax:
	default:
		return fmt.Errorf("superblock %+v, acked %+v, trying %+v", v, sc.vsr, sc.trying)
	}
	cp := v.CheckpointOp
	if cp > 0 {
		got, err := j.ReadCheckpoint(CheckpointData{})
		if err != nil {
			return fmt.Errorf("checkpoint %d: %w", cp, err)
		}
		want := sc.blobs[cp]
		if !bytes.Equal(got.State, want.State) || !bytes.Equal(got.Sessions, want.Sessions) {
			return fmt.Errorf("checkpoint %d blobs differ", cp)
		}
		if v.CheckpointChecksum != sc.c.sums[cp] {
			return fmt.Errorf("checkpoint %d checksum", cp)
		}
	}
	r := j.Report()
	if len(r.Repair) != 0 || len(r.Faulty) != 0 || r.ChainBreak != 0 {
		return fmt.Errorf("crash-only faults need repair: repair %+v faulty %v break %d", r.Repair, r.Faulty, r.ChainBreak)
	}
	if r.OpMax > sc.tried && r.OpMax > cp {
		return fmt.Errorf("op max %d beyond the highest op written %d", r.OpMax, sc.tried)
	}
	for i := range r.Slots {
		s := &r.Slots[i]
		if s.Known && (s.Op > scriptOps || s.Checksum != sc.c.sums[s.Op]) {
			return fmt.Errorf("slot %d trusts op %d with checksum %s that was never written", i, s.Op, s.Checksum)
		}
	}
	for op := cp + 1; op <= scriptOps; op++ {
		if !sc.acked[op] {
			continue
		}
		if op > r.OpMax {
			return fmt.Errorf("acked op %d beyond op max %d", op, r.OpMax)
		}
		if _, err := j.ReadPrepare(op, sc.c.sums[op]); err != nil {
			return fmt.Errorf("acked op %d: %w", op, err)
		}
	}
	return nil
}

// TestCrashAtEveryWrite crashes the script after each of its writes, under
// several crash modes, and checks recovery.
func TestCrashAtEveryWrite(t *testing.T) {
	base := newFormatted(t, 1, MemoryFaults{})
	image := append([]byte(nil), base.Data()...)
	reused := NewMemoryStorage(uint64(len(image)), 0, MemoryFaults{LatencyMax: 1})
	fresh := func(seed uint64) *MemoryStorage {
		// Reuse one storage: allocating megabytes per crash point dominates.
		s := reused
		s.Crash(CrashKeepAll)
		s.Reseed(seed)
		copy(s.Data(), image)
		return s
	}
	// Count the writes of a full run.
	s := fresh(0)
	full := newCrashScript()
	if err := full.run(mustOpen(t, s)); err != nil {
		t.Fatal(err)
	}
	total := s.Writes()
	if err := full.check(mustOpen(t, s)); err != nil {
		t.Fatalf("no crash: %v", err)
	}
	modes := []CrashMode{CrashLoseAll, CrashKeepAll, CrashRandom, CrashRandom, CrashRandom, CrashRandom}
	if testing.Short() {
		modes = modes[:3]
	}
	for mi, mode := range modes {
		for k := 0; k < total; k++ {
			seed := uint64(mi*100000 + k)
			s := fresh(seed)
			j := mustOpen(t, s)
			hm := HeaderMode(k % 2) // both header modes, alternating
			j.SetHeaderMode(hm)
			sc := newCrashScript()
			s.CrashAfterWrites(k)
			if err := sc.run(j); !errors.Is(err, ErrCrashed) && hm == HeaderOrdered {
				t.Fatalf("mode %d write %d: script ended with %v", mode, k, err)
			}
			s.Crash(mode)
			if k%3 == 0 {
				// Crash again during recovery's own repair writes.
				s.CrashAfterWrites(s.Random().IntN(3))
				if _, err := Open(s); err != nil && !errors.Is(err, ErrCrashed) {
					t.Fatalf("mode %d write %d (seed %d): open during second crash: %v", mode, k, seed, err)
				}
				s.Crash(mode)
			}
			j, err := Open(s)
			if err != nil {
				t.Fatalf("mode %d write %d (seed %d): open: %v", mode, k, seed, err)
			}
			if err := sc.check(j); err != nil {
				t.Fatalf("mode %d write %d (seed %d, header mode %d): %v", mode, k, seed, hm, err)
			}
			// The recovered journal accepts the next op and stays consistent.
			next := j.Report().OpMax + 1
			if next <= scriptOps && next <= j.Superblock().VSR.CheckpointOp+uint64(ConfigTest.SlotCount) {
				if err := j.WritePrepare(sc.c.msgs[next]); err != nil {
					t.Fatal(err)
				}
				sc.acked[next] = true
				sc.tried = max(sc.tried, next)
				if err := sc.check(mustOpen(t, s)); err != nil {
					t.Fatalf("mode %d write %d: after next write: %v", mode, k, err)
				}
			}
		}
	}
	t.Logf("%d writes per run, %d crash points", total, total*len(modes))
}
