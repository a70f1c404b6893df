package main

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chronon-db/chronon/client"
	"github.com/chronon-db/chronon/journal"
	"github.com/chronon-db/chronon/wire"
)

// TestProcessesRepairACorruptedGridBlock: three `chronon start` processes
// keep the ledger's transfers in the grid. A bit flips on disk in a grid
// block of a running backup that holds transfers it dropped from memory:
// its scrubber finds the block damaged, fetches the bytes from a peer
// (request_stable) and writes them to another block; the next checkpoint
// takes the repaired block, so a SIGKILL and restart afterwards restores
// the checkpoint whole (not as damaged), and the ledger stays exact.
func TestProcessesRepairACorruptedGridBlock(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs processes")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	addresses := freeAddresses(t, 3)
	files := formatFiles(t, bin, dir, "0x9a1d", 3)
	procs := make([]*process, 3)
	for i := range procs {
		procs[i] = startProcess(t, bin, addresses, files[i], "--metrics=127.0.0.1:0")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	d := newLedgerDriver(t, ctx, 0x9a1d, addresses, 8, procs[0])
	transfer := d.transfer
	// waitMetric waits until a replica's metric reaches at least min.
	waitMetric := func(i int, name string, min int) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			if scrapeMetrics(t, procs[i])[name] >= min {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatalf("replica %d: %s stayed below %d\n%s", i, name, min, procs[i].Out.String())
	}
	// Two checkpoints (56 ops each with the test preset): the second one
	// lets the ledger drop the transfers the first holds (62 a block).
	transfer(130)
	const victim = 2
	waitStatus(t, procs[victim], 120, 2)
	waitMetric(victim, "chronon_state_omitted_bytes", 1)

	// Where stable block 0 is: read from the stopped replica's data file.
	if err := procs[victim].Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := procs[victim].Wait(); err != nil {
		t.Fatalf("victim exit: %v", err)
	}
	offset := stableBlockOffset(t, files[victim])

	procs[victim] = startProcess(t, bin, addresses, files[victim], "--metrics=127.0.0.1:0")
	waitStatus(t, procs[victim], 120, 2)
	waitMetric(victim, "chronon_state_omitted_bytes", 1)
	// A bit flips on disk under the running replica.
	flipBit(t, files[victim], offset)
	waitMetric(victim, "chronon_replica_scrub_damaged_total", 1)
	waitMetric(victim, "chronon_replica_stable_repaired_total", 1)
	if log := procs[victim].Out.String(); !strings.Contains(log, "do not read back") {
		t.Fatalf("the damaged block was repaired without a warning in the log:\n%s", log)
	}

	// A checkpoint after the repair takes the repaired block: a crash and
	// restart then restores it whole.
	transfer(70)
	waitStatus(t, procs[victim], 200, 2)
	if err := procs[victim].Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = procs[victim].Wait()
	procs[victim] = startProcess(t, bin, addresses, files[victim], "--metrics=127.0.0.1:0")
	waitStatus(t, procs[victim], 200, 2)
	if log := procs[victim].Out.String(); strings.Contains(log, "checkpoint damaged") {
		t.Fatalf("the restarted replica found its checkpoint damaged: the repair did not reach it\n%s", log)
	}
	transfer(10)
	d.checkBalances()
	stopAll(t, procs)
}

// TestStartWaitsForALockedDataFile: a replica restarted right after a
// kill -9 can find its data file still locked for a moment (the kernel
// tears the killed process's io_uring down after the process is gone):
// start says so and waits, instead of exiting into a restart loop.
func TestStartWaitsForALockedDataFile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a process")
	}
	bin := buildBinary(t)
	files := formatFiles(t, bin, t.TempDir(), "0x10c4", 1)
	held, err := journal.OpenFile(files[0], false)
	if err != nil {
		t.Fatal(err)
	}
	p := startProcess(t, bin, freeAddresses(t, 1), files[0])
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(p.Out.String(), "is locked: waiting") {
		if time.Now().After(deadline) {
			t.Fatalf("start did not say it waits for the lock:\n%s", p.Out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	_ = held.Close()
	waitStatus(t, p, 0, 0)
	stopAll(t, []*process{p})
}

// TestSingleReplicaStopsOnDamagedState: a single replica whose commit
// needs a grid block of its state that no longer reads back has no peer to
// repair it from: it stops with a named error (ErrStateDamaged) instead of
// waiting forever.
func TestSingleReplicaStopsOnDamagedState(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs a process")
	}
	bin := buildBinary(t)
	addresses := freeAddresses(t, 1)
	files := formatFiles(t, bin, t.TempDir(), "0x5e1f", 1)
	// A cache of one block: the lookup below reads from the disk.
	flags := []string{"--metrics=127.0.0.1:0", "--cache-size=1KiB"}
	p := startProcess(t, bin, addresses, files[0], flags...)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d := newLedgerDriver(t, ctx, 0x5e1f, addresses, 8, p)
	// Several blocks held (62 transfers a block with the test preset), so
	// the one-block cache no longer holds the first after the restart.
	d.transfer(250)
	waitStatus(t, p, 240, 0)
	stopAll(t, []*process{p})
	offset := stableBlockOffset(t, files[0])
	p = startProcess(t, bin, addresses, files[0], flags...)
	waitStatus(t, p, 240, 0)
	flipBit(t, files[0], offset)
	// A lookup of the first transfers reads that block (a new client: the
	// driver's session was with the replica before its restart).
	go func() {
		cl, err := client.Dial(ctx, client.Config{Cluster: wire.Uint128{Lo: 0x5e1f}, Addresses: strings.Split(addresses, ","), MessageSizeMax: wire.MessageSizeMaxTest})
		if err != nil {
			return
		}
		defer cl.Close()
		_, _ = cl.LookupTransfers(ctx, []wire.Uint128{{Lo: 1}, {Lo: 2}})
	}()
	done := make(chan error, 1)
	go func() { done <- p.Wait() }()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(p.Out.String(), "state in the data file damaged") {
			t.Fatalf("the replica exited (%v) without naming the damage:\n%s", err, p.Out.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("the single replica still runs with a commit waiting on damaged state:\n%s", p.Out.String())
	}
}

// stableBlockOffset returns the file offset of a byte inside the payload of
// the first stable grid block of a stopped replica's data file.
func stableBlockOffset(t *testing.T, file string) int64 {
	t.Helper()
	s, err := journal.OpenFile(file, true)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	j, err := journal.Open(s)
	if err != nil {
		t.Fatal(err)
	}
	layout := j.Layout()
	address := j.StableBlockAddress(0)
	if address == 0 {
		t.Fatal("the checkpoint holds no stable block")
	}
	return int64(layout.BlockOffset(address)) + wire.HeaderSize + 100
}

// flipBit flips a bit of the byte at offset of file, durably.
func flipBit(t *testing.T, file string, offset int64) {
	t.Helper()
	f, err := os.OpenFile(file, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, offset); err != nil {
		t.Fatal(err)
	}
	b[0] ^= 0x10
	if _, err := f.WriteAt(b, offset); err != nil {
		t.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}
