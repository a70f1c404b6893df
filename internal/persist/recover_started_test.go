package persist

import (
	"testing"

	"github.com/chronon-db/chronon/journal"
	"github.com/chronon-db/chronon/replica"
)

// TestRestartedPrimaryWithEmptyJournal (issue 11's open bug): the primary
// of view 0 restarts with nothing journaled — it crashed before its first
// prepare write was durable, although backups may hold that prepare. It
// must not start normal as primary of view 0 again and number ops from 1
// anew: the first start marks the data file (VSRState.Started), and the
// second one is a restart that starts a view change.
func TestRestartedPrimaryWithEmptyJournal(t *testing.T) {
	l, err := journal.NewLayout(journal.ConfigTest)
	if err != nil {
		t.Fatal(err)
	}
	s := journal.NewMemoryStorage(l.Size, 1, journal.MemoryFaults{})
	if err := journal.Format(s, journal.FormatOptions{Config: journal.ConfigTest, Cluster: r3Cluster, Replica: 0, ReplicaCount: 3}); err != nil {
		t.Fatal(err)
	}
	r, info, j := r3Recover(t, s)
	if info.Restarted || r.Status() != replica.StatusNormal || !r.IsPrimary() {
		t.Fatalf("first start: restarted %t, status %v, primary %t; want a fresh primary of view 0", info.Restarted, r.Status(), r.IsPrimary())
	}
	if !j.Superblock().VSR.Started {
		t.Fatal("first start did not mark the data file started")
	}
	r, info, _ = r3Recover(t, s)
	if !info.Restarted || r.Status() != replica.StatusViewChange || r.View() != 1 {
		t.Fatalf("second start: restarted %t, status %v, view %d; want a view change to view 1", info.Restarted, r.Status(), r.View())
	}
}
