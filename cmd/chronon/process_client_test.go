package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chronon-db/chronon/client"
	"github.com/chronon-db/chronon/ledger"
	"github.com/chronon-db/chronon/wire"
)

// TestProcessesClientListsEffects runs three `chronon start --effects-url`
// processes against an endpoint that declines some transfers for good (422)
// and is unavailable for others (503), then lists the outbox with
// `chronon client effects`: the declined transfers show as failed with
// reason http_422, the others as open and retrying.
// scrapeMetrics reads the metrics URL a process logged and returns its
// samples by name and labels (the replica label left out).
func scrapeMetrics(t *testing.T, p *process) map[string]int {
	t.Helper()
	var url string
	for _, f := range strings.Fields(p.Out.String()) {
		if u, ok := strings.CutPrefix(f, "url="); ok {
			url = u
		}
	}
	if url == "" {
		t.Fatalf("no metrics url logged:\n%s", p.Out.String())
	}
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	samples := map[string]int{}
	for _, line := range strings.Split(string(body), "\n") {
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		name, value, _ := strings.Cut(line, " ")
		name = regexp.MustCompile(`replica="[0-9]+",?`).ReplaceAllString(name, "")
		name = strings.TrimSuffix(name, "{}")
		var v int
		_, _ = fmt.Sscan(value, &v)
		samples[name] = v
	}
	return samples
}

func TestProcessesClientListsEffects(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary and runs processes")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var tr ledger.Transfer
		if len(body) == ledger.TransferSize {
			tr.Decode(body)
		}
		switch tr.ID.Lo % 5 {
		case 0:
			w.WriteHeader(http.StatusUnprocessableEntity)
		case 1:
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	bin := buildBinary(t)
	dir := t.TempDir()
	addresses := freeAddresses(t, 3)
	procs := make([]*process, 3)
	for i, file := range formatFiles(t, bin, dir, "0xc11", 3) {
		procs[i] = startProcess(t, bin, addresses, file, "--effects-url="+srv.URL, "--metrics=127.0.0.1:0")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cl, err := client.Dial(ctx, client.Config{Cluster: wire.Uint128{Lo: 0xc11}, Addresses: strings.Split(addresses, ","), MessageSizeMax: wire.MessageSizeMaxTest})
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if failed, err := cl.CreateAccounts(ctx, []ledger.Account{{ID: wire.Uint128{Lo: 1}, Ledger: 1, Code: 1},
		{ID: wire.Uint128{Lo: 2}, Ledger: 1, Code: 1, Flags: ledger.AccountHistory}}); err != nil || len(failed) != 0 {
		t.Fatalf("create accounts: %v %v", failed, err)
	}
	const transfers = 20
	var batch []ledger.Transfer
	for id := uint64(1); id <= transfers; id++ {
		batch = append(batch, ledger.Transfer{ID: wire.Uint128{Lo: id}, DebitAccountID: wire.Uint128{Lo: 1},
			CreditAccountID: wire.Uint128{Lo: 2}, Amount: wire.Uint128{Lo: 1}, Ledger: 1, Code: 1})
	}
	if failed, err := cl.CreateTransfers(ctx, batch); err != nil || len(failed) != 0 {
		t.Fatalf("transfers: %v %v", failed, err)
	}
	list := func(state string) string {
		t.Helper()
		out, err := exec.Command(bin, "client", "--addresses="+addresses, "--cluster=0xc11", "effects", "--state="+state).CombinedOutput()
		if err != nil {
			t.Fatalf("chronon client effects --state=%s: %v\n%s", state, err, out)
		}
		return string(out)
	}
	count := func(out, word string) int {
		n := 0
		for _, line := range strings.Split(out, "\n")[2:] {
			if strings.Contains(line, word) {
				n++
			}
		}
		return n
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		failed, open := list("failed"), list("open")
		// 4 transfers declined (ids 5, 10, 15, 20) and 4 retrying (1, 6, 11, 16).
		if count(failed, "http_422") == 4 && count(open, " retry ") == 4 && strings.Contains(open, "4 of the 4 listed retrying") &&
			strings.Contains(failed, "emitted 20, done 12, failed 4 (4 kept), open 4") {
			t.Logf("failed:\n%s\nopen:\n%s", failed, open)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox listing did not settle:\nfailed:\n%s\nopen:\n%s", failed, open)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Ledger lookups through the CLI.
	out, err := exec.Command(bin, "client", "--addresses="+addresses, "--cluster=0xc11", "accounts", "1", "2", "3").CombinedOutput()
	if code := exitCode(err); code != 1 || !strings.Contains(string(out), "account 3: not found") ||
		!regexp.MustCompile(`(?m)^1 +1 +1 +20 +0 `).Match(out) || !regexp.MustCompile(`(?m)^2 +1 +1 +0 +20 `).Match(out) {
		t.Fatalf("chronon client accounts (exit %d):\n%s", code, out)
	}
	out, err = exec.Command(bin, "client", "--addresses="+addresses, "--cluster=0xc11", "transfers", "0x5").CombinedOutput()
	if err != nil || !regexp.MustCompile(`(?m)^5 +1 +2 +1 +1 +1 +20`).Match(out) {
		t.Fatalf("chronon client transfers: %v\n%s", err, out)
	}
	// An account's history through the CLI: account 2 keeps balance
	// history, so each transfer comes with its balances after it.
	out, err = exec.Command(bin, "client", "--addresses="+addresses, "--cluster=0xc11", "history", "2", "--limit=5", "--reverse").CombinedOutput()
	rows := regexp.MustCompile(`(?m)^\d+ +\S+ +(\d+) +1 +2 +1 +1 +0 +(\d+)$`).FindAllSubmatch(out, -1)
	if err != nil || len(rows) != 5 || string(rows[0][1]) != "20" || string(rows[0][2]) != "20" || string(rows[4][1]) != "16" ||
		string(rows[4][2]) != "16" || !strings.Contains(string(out), "more transfers: continue with --to=") {
		t.Fatalf("chronon client history 2 --reverse: %v\n%s", err, out)
	}
	out, err = exec.Command(bin, "client", "--addresses="+addresses, "--cluster=0xc11", "history", "--credits", "1").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "account 1: no transfers in this range") {
		t.Fatalf("chronon client history --credits 1: %v\n%s", err, out)
	}
	// The primary's metrics count the deliveries and their outcomes.
	var dispatched, failed, retried int
	for _, p := range procs {
		m := scrapeMetrics(t, p)
		dispatched += m[`chronon_outbox_dispatched_total`]
		failed += m[`chronon_outbox_outcomes_total{outcome="failed"}`]
		retried += m[`chronon_outbox_outcomes_total{outcome="retry"}`]
		if m[`chronon_outbox_failed_total`] != 4 || m[`chronon_outbox_emitted_total`] != transfers {
			t.Fatalf("replicated outbox counters: %v", m)
		}
	}
	// Every effect was dispatched once, the 4 flaky ones answered retry at
	// least once (listed as retrying), the 4 declined ones failed (once
	// each, unless a view change made a new primary try again).
	if dispatched < transfers || retried < 4 || failed < 4 {
		t.Fatalf("dispatched %d, retry outcomes %d, failed outcomes %d", dispatched, retried, failed)
	}
	stopAll(t, procs)
}

// exitCode returns a command's exit status from its error (0 for nil).
func exitCode(err error) int {
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode()
	}
	if err != nil {
		return -1
	}
	return 0
}
