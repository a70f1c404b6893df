package bench

import (
	"bytes"
	"net/http"
	"strconv"
	"testing"

	"github.com/chronon-db/chronon/ledger"
	"github.com/chronon-db/chronon/outbox"
	"github.com/chronon-db/chronon/wire"
)

// TestEffectSink posts to the built-in sink over loopback, as the outbox's
// HTTP sink does: each transfer's effect is applied once, repeats are
// answered 200 and counted, and requests that are not an effect of this
// run are refused with 400.
func TestEffectSink(t *testing.T) {
	const run = 0xabc1
	s, err := newEffectSink(run, 100, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	post := func(hi, lo uint64, size int, key, token string) int {
		t.Helper()
		body := make([]byte, size)
		if size >= ledger.TransferSize {
			tr := ledger.Transfer{ID: wire.Uint128{Hi: hi, Lo: lo}, Amount: wire.Uint128{Lo: 1}, Ledger: 1, Code: 1}
			tr.Encode(body)
		}
		req, err := http.NewRequest(http.MethodPost, s.URL(), bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if key != "" {
			req.Header.Set(outbox.HeaderIdempotencyKey, key)
		}
		if token != "" {
			req.Header.Set(outbox.HeaderFencingToken, token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for lo := uint64(1); lo <= 100; lo++ {
		if code := post(run, lo, ledger.TransferSize, strconv.FormatUint(lo, 16), "3"); code != http.StatusOK {
			t.Fatalf("transfer %d: status %d", lo, code)
		}
	}
	for _, lo := range []uint64{1, 64, 65, 100} {
		if code := post(run, lo, ledger.TransferSize, "k", "4"); code != http.StatusOK {
			t.Fatalf("repeat of %d: status %d", lo, code)
		}
	}
	for name, code := range map[string]int{
		"other run":     post(run+2, 5, ledger.TransferSize, "k", "3"),
		"id 0":          post(run, 0, ledger.TransferSize, "k", "3"),
		"id past run":   post(run, 101, ledger.TransferSize, "k", "3"),
		"short body":    post(run, 5, 100, "k", "3"),
		"long body":     post(run, 5, ledger.TransferSize+1, "k", "3"),
		"no key":        post(run, 5, ledger.TransferSize, "", "3"),
		"no token":      post(run, 5, ledger.TransferSize, "k", ""),
		"garbage token": post(run, 5, ledger.TransferSize, "k", "x"),
	} {
		if code != http.StatusBadRequest {
			t.Errorf("%s: status %d, want 400", name, code)
		}
	}
	if u, d, p, r := s.unique.Load(), s.duplicates.Load(), s.posts.Load(), s.rejected.Load(); u != 100 || d != 4 || p != 104 || r != 8 {
		t.Fatalf("unique %d duplicates %d posts %d rejected %d, want 100 4 104 8", u, d, p, r)
	}
	for i, w := range s.applied {
		want := ^uint64(0)
		if i == 1 {
			want = 1<<36 - 1
		}
		if w != want {
			t.Fatalf("applied word %d = %#x, want %#x", i, w, want)
		}
	}
}
