package wire

import "testing"

// TestLimitsClientTermsDoNotGrowWithSessions: the message pool has no term
// in ClientsMax (client buffers come from budgets of their own), and the
// reply slots grow by one per session and per client send-queue place.
func TestLimitsClientTermsDoNotGrowWithSessions(t *testing.T) {
	a, b := LimitsProduction, LimitsProduction
	a.ClientsMax, b.ClientsMax = 64, 4096
	if a.MessagesMax() != b.MessagesMax() {
		t.Fatalf("MessagesMax %d with 64 sessions, %d with 4096", a.MessagesMax(), b.MessagesMax())
	}
	if got, want := b.RepliesSmallMax(), 4096+4096*b.ClientSendQueueMax+1; got != want {
		t.Fatalf("RepliesSmallMax %d, want %d", got, want)
	}
	b.ConnectionsMax = 100
	if got, want := b.RepliesSmallMax(), 4096+100*b.ClientSendQueueMax+1; got != want {
		t.Fatalf("RepliesSmallMax with 100 connections %d, want %d", got, want)
	}
	if EvictionReplyDropped.String() != "reply_dropped" || EvictionReason(0).String() != "eviction_reason(0)" {
		t.Fatalf("reason names: %q %q", EvictionReplyDropped, EvictionReason(0))
	}
}
