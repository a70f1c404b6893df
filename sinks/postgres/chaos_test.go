package postgres_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chronon-db/chronon/internal/chaos"
	"github.com/chronon-db/chronon/sinks/postgres"
	"github.com/chronon-db/chronon/sinks/postgres/internal/pgchaos"
)

// TestChaosToPostgres runs the core's chaos test (three `chronon start`
// processes, ledger load, kill -9 of the primary and of a backup) with
// every created transfer's effect delivered by the CLI's HTTP batch sink
// to the PostgreSQL bridge: at the end the payload table holds exactly one
// row per created transfer, no duplicate, none missing, none foreign.
// `go run ./cmd/chronon-pgchaos` runs it longer, with every fault kind.
func TestChaosToPostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the chronon binary and runs processes")
	}
	pool := postgres.TestPool(t) // skips, saying why, without PostgreSQL
	bin := filepath.Join(t.TempDir(), "chronon")
	build := exec.Command("go", "build", "-o", bin, "./cmd/chronon")
	build.Dir = "../.."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/chronon: %v\n%s", err, out)
	}
	ctx := context.Background()
	sink, err := pgchaos.Open(ctx, pool, 16, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	report, err := chaos.Run(ctx, chaos.Config{
		Binary: bin, Dir: t.TempDir(), Replicas: 3, Preset: "test", Seed: 1,
		Faults: []chaos.Fault{chaos.KillPrimary, chaos.KillBackup}, Rounds: 2,
		Effects: true, Sink: sink,
		Clients: 2, Batch: 2, CallPause: 50 * time.Millisecond,
		DownFor: time.Second, Calm: 500 * time.Millisecond,
	})
	if report != nil {
		var log strings.Builder
		report.Write(&log)
		t.Log("\n" + log.String())
	}
	if err != nil {
		t.Fatal(err)
	}
	if report.Acked == 0 || report.Effects != report.Created || report.Duplicates != 0 || len(report.Faults) != 2 {
		t.Fatalf("run did not exercise what it should: %d acked, %d created, %d rows, %d duplicates, %d faults",
			report.Acked, report.Created, report.Effects, report.Duplicates, len(report.Faults))
	}
}
