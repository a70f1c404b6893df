package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/chronon-db/chronon/client"
	"github.com/chronon-db/chronon/internal/chaos"
	"github.com/chronon-db/chronon/ledger"
	"github.com/chronon-db/chronon/wire"
)

// process is one `chronon start` child process.
type process = chaos.Process

func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "chronon")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// startProcess starts `chronon start` on file; the test's cleanup kills it
// if it still runs.
func startProcess(t *testing.T, bin, addresses, file string, extra ...string) *process {
	t.Helper()
	p, err := chaos.StartProcess(bin, addresses, file, extra...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	return p
}

// stopAll stops every process with SIGTERM and checks that each exits
// cleanly.
func stopAll(t *testing.T, procs []*process) {
	t.Helper()
	for _, p := range procs {
		_ = p.Signal(syscall.SIGTERM)
	}
	for i, p := range procs {
		if err := p.Wait(); err != nil {
			t.Fatalf("replica %d exit: %v\n%s", i, err, p.Out.String())
		}
	}
}

// formatFiles formats n data files of a test-preset cluster in dir and
// returns their paths.
func formatFiles(t *testing.T, bin, dir, cluster string, n int) []string {
	t.Helper()
	files, err := chaos.FormatFiles(bin, dir, cluster, "test", n)
	if err != nil {
		t.Fatal(err)
	}
	return files
}

// waitStatus waits until the process logs a "node: status" line with at
// least the given commit number and number of connected peers.
func waitStatus(t *testing.T, p *process, commitMin uint64, peers int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if s, ok := chaos.LastStatus(p.Out.String()); ok && s.CommitMin >= commitMin && s.Peers >= peers {
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("no status with commit_min >= %d and peers >= %d:\n%s", commitMin, peers, p.Out.String())
}

// ledgerDriver drives a ledger cluster of test-preset processes through the
// Go client: accounts 1..accounts, then transfers of 1, one a request,
// between neighbouring accounts.
type ledgerDriver struct {
	t        *testing.T
	ctx      context.Context
	cl       *client.Client
	accounts uint64
	next     uint64 // transfers created
}

// newLedgerDriver dials the cluster (log: a process whose output a
// failure shows) and creates the accounts.
func newLedgerDriver(t *testing.T, ctx context.Context, cluster uint64, addresses string, accounts int, log *process) *ledgerDriver {
	t.Helper()
	cl, err := client.Dial(ctx, client.Config{
		Cluster: wire.Uint128{Lo: cluster}, Addresses: strings.Split(addresses, ","), MessageSizeMax: wire.MessageSizeMaxTest,
	})
	if err != nil {
		t.Fatalf("dial: %v\n%s", err, log.Out.String())
	}
	t.Cleanup(func() { cl.Close() })
	var batch []ledger.Account
	for i := 1; i <= accounts; i++ {
		batch = append(batch, ledger.Account{ID: wire.Uint128{Lo: uint64(i)}, Ledger: 1, Code: 1})
	}
	if failed, err := cl.CreateAccounts(ctx, batch); err != nil || len(failed) != 0 {
		t.Fatalf("create accounts: %v %v", failed, err)
	}
	return &ledgerDriver{t: t, ctx: ctx, cl: cl, accounts: uint64(accounts)}
}

// transfer creates n transfers, one request each.
func (d *ledgerDriver) transfer(n int) {
	d.t.Helper()
	for range n {
		d.next++
		tr := ledger.Transfer{ID: wire.Uint128{Lo: d.next}, DebitAccountID: wire.Uint128{Lo: d.next%d.accounts + 1},
			CreditAccountID: wire.Uint128{Lo: (d.next+1)%d.accounts + 1}, Amount: wire.Uint128{Lo: 1}, Ledger: 1, Code: 1}
		if failed, err := d.cl.CreateTransfers(d.ctx, []ledger.Transfer{tr}); err != nil || len(failed) != 0 {
			d.t.Fatalf("transfer %d: %v %v", d.next, failed, err)
		}
	}
}

// checkBalances checks that the accounts' posted debits and credits each
// add up to the transfers created.
func (d *ledgerDriver) checkBalances() {
	d.t.Helper()
	ids := make([]wire.Uint128, d.accounts)
	for i := range ids {
		ids[i] = wire.Uint128{Lo: uint64(i + 1)}
	}
	got, err := d.cl.LookupAccounts(d.ctx, ids)
	if err != nil {
		d.t.Fatal(err)
	}
	var debits, credits uint64
	for _, a := range got {
		debits += a.DebitsPosted.Lo
		credits += a.CreditsPosted.Lo
	}
	if debits != d.next || credits != d.next {
		d.t.Fatalf("debits %d credits %d after %d transfers", debits, credits, d.next)
	}
}

func freeAddresses(t *testing.T, n int) string {
	t.Helper()
	addrs, err := chaos.FreeAddresses(n)
	if err != nil {
		t.Fatal(err)
	}
	return addrs
}

// TestProcessesSurviveKillOfABackup runs three `chronon start` processes,
// drives a ledger workload through the Go client, kills a backup with
// SIGKILL in the middle, restarts it from its data file, and checks that the
// ledger stays exact and the restarted replica recovered from its journal.
func TestProcessesSurviveKillOfABackup(t *testing.T) { killScenario(t, 2) }

// TestProcessesSurviveKillOfThePrimary does the same to the primary: the
// backups elect a new primary (view change), the client finds it, and the
// old primary rejoins from its data file.
func TestProcessesSurviveKillOfThePrimary(t *testing.T) { killScenario(t, 0) }

func killScenario(t *testing.T, victim int) {
	if testing.Short() {
		t.Skip("builds the binary and runs processes")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	addresses := freeAddresses(t, 3)
	files := formatFiles(t, bin, dir, "0x5eed", 3)
	procs := make([]*process, 3)
	for i := range procs {
		procs[i] = startProcess(t, bin, addresses, files[i])
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	d := newLedgerDriver(t, ctx, 0x5eed, addresses, 10, procs[0])
	transfer := d.transfer
	transfer(30)
	// The victim must hold most of those ops in its journal before it dies
	// (at start-up it may still have been dialling its peers): register,
	// accounts and 30 transfers are 32 ops.
	waitStatus(t, procs[victim], 30, 2)
	// SIGKILL: no shutdown, no final superblock write.
	if err := procs[victim].Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = procs[victim].Wait()
	transfer(10)
	procs[victim] = startProcess(t, bin, addresses, files[victim])
	transfer(30)
	waitStatus(t, procs[victim], 70, 2)
	d.checkBalances()
	// Clean shutdown of all three.
	stopAll(t, procs)
	log := procs[victim].Out.String()
	if !strings.Contains(log, "node: replica started") || strings.Contains(log, "replayed=0 prepared=0") {
		t.Fatalf("restarted replica did not recover from its journal:\n%s", log)
	}
	for _, f := range files {
		out, err := exec.Command(bin, "inspect", f).CombinedOutput()
		if err != nil {
			t.Fatalf("inspect %s: %v\n%s", f, err, out)
		}
	}
	_ = os.RemoveAll(dir)
}

// TestProcessesReplaceALostDataFile: a backup's data file is lost (SIGKILL,
// file deleted); the operator formats a replacement with --rejoin and
// starts it. It catches up, stops rejoining (durably: inspect no longer
// says so), and the ledger stays exact.
func TestProcessesReplaceALostDataFile(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs processes")
	}
	bin := buildBinary(t)
	dir := t.TempDir()
	addresses := freeAddresses(t, 3)
	files := formatFiles(t, bin, dir, "0x5eee", 3)
	procs := make([]*process, 3)
	for i, file := range files {
		procs[i] = startProcess(t, bin, addresses, file)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := client.Dial(ctx, client.Config{Cluster: wire.Uint128{Lo: 0x5eee}, Addresses: strings.Split(addresses, ","), MessageSizeMax: wire.MessageSizeMaxTest})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if failed, err := cl.CreateAccounts(ctx, []ledger.Account{{ID: wire.Uint128{Lo: 1}, Ledger: 1, Code: 1}, {ID: wire.Uint128{Lo: 2}, Ledger: 1, Code: 1}}); err != nil || len(failed) != 0 {
		t.Fatalf("create accounts: %v %v", failed, err)
	}
	next := uint64(0)
	transfer := func(n int) {
		t.Helper()
		for range n {
			next++
			tr := ledger.Transfer{ID: wire.Uint128{Lo: next}, DebitAccountID: wire.Uint128{Lo: 1}, CreditAccountID: wire.Uint128{Lo: 2},
				Amount: wire.Uint128{Lo: 1}, Ledger: 1, Code: 1}
			if failed, err := cl.CreateTransfers(ctx, []ledger.Transfer{tr}); err != nil || len(failed) != 0 {
				t.Fatalf("transfer %d: %v %v", next, failed, err)
			}
		}
	}
	transfer(80) // beyond the test preset's WAL: the replacement needs state sync
	_ = procs[2].Signal(syscall.SIGKILL)
	_ = procs[2].Wait()
	if err := os.Remove(files[2]); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bin, "format", "--cluster=0x5eee", "--replica=2", "--replica-count=3", "--preset=test", "--rejoin", files[2]).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "marked rejoining") {
		t.Fatalf("format --rejoin: %v\n%s", err, out)
	}
	procs[2] = startProcess(t, bin, addresses, files[2])
	transfer(20)
	waitStatus(t, procs[2], next, 2)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(chaos.LastStatusLine(procs[2].Out.String()), "rejoining=false") {
		if time.Now().After(deadline) {
			t.Fatalf("replacement still rejoining:\n%s", procs[2].Out.String())
		}
		time.Sleep(50 * time.Millisecond)
	}
	got, err := cl.LookupAccounts(ctx, []wire.Uint128{{Lo: 1}, {Lo: 2}})
	if err != nil || len(got) != 2 || got[0].DebitsPosted.Lo != next || got[1].CreditsPosted.Lo != next {
		t.Fatalf("accounts after %d transfers: %+v %v", next, got, err)
	}
	stopAll(t, procs)
	if !strings.Contains(procs[2].Out.String(), "rejoining=true") {
		t.Fatalf("the replacement never said it was rejoining:\n%s", procs[2].Out.String())
	}
	out, err = exec.Command(bin, "inspect", files[2]).CombinedOutput()
	if err != nil || strings.Contains(string(out), "rejoining") {
		t.Fatalf("inspect after rejoining: %v\n%s", err, out)
	}
}
