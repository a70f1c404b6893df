package outbox

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// TestWriteFuzzSeeds regenerates the committed seed corpora under
// testdata/fuzz when OUTBOX_WRITE_SEEDS=1.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("OUTBOX_WRITE_SEEDS") != "1" {
		t.Skip("set OUTBOX_WRITE_SEEDS=1 to regenerate testdata/fuzz")
	}
	tb := fuzzTable(t)
	due := tb.Due(nil, ^uint64(0), 10, nil)
	write := func(target, name string, data []byte) {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		content := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n", strconv.Quote(string(data)))
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	snap := tb.Snapshot(nil)
	write("FuzzRestore", "seed-populated", snap)
	write("FuzzRestore", "seed-empty", newTestTable(t, fuzzConfig).Snapshot(nil))
	bad := append([]byte(nil), snap...)
	bad[snapshotHeaderSize+30] = byte(StateDone)
	write("FuzzRestore", "seed-bad-state", reseal(bad))
	write("FuzzApplyAck", "seed-done", AppendAckBody(nil, []Ack{{ID: due[0].ID, View: 1, Attempt: 1, Outcome: OutcomeDone, Result: []byte("ok")}}))
	write("FuzzApplyAck", "seed-mixed", AppendAckBody(nil, []Ack{
		{ID: due[1].ID, View: 2, Attempt: due[1].Attempts + 1, Outcome: OutcomeRetry, After: 5},
		{ID: due[2].ID, View: 2, Attempt: 1, Outcome: OutcomeFailed, Reason: ReasonHTTP + 400},
		{ID: due[3].ID, View: 0, Attempt: 1, Outcome: OutcomeDone},
	}))
	write("FuzzApplyAck", "seed-stale", AppendAckBody(nil, []Ack{{ID: due[0].ID, View: 0, Attempt: 2, Outcome: OutcomeRetry}}))
}
