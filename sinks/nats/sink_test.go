package nats

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/chronon-db/chronon/outbox"
	"github.com/chronon-db/chronon/wire"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// startServer starts a private nats-server with JetStream in a temporary
// directory ($CHRONON_TEST_NATS_URL instead, if set), or skips the test
// saying why; scripts/install-test-deps.sh installs nats-server.
func startServer(t *testing.T) jetstream.JetStream {
	t.Helper()
	url := os.Getenv("CHRONON_TEST_NATS_URL")
	if url == "" {
		bin, err := exec.LookPath("nats-server")
		if err != nil {
			t.Skip("nats-server is not installed (not in $PATH) and $CHRONON_TEST_NATS_URL is not set; run scripts/install-test-deps.sh as root to install it")
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		cmd := exec.Command(bin, "-js", "-a", "127.0.0.1", "-p", strconv.Itoa(port), "-sd", t.TempDir())
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
		url = fmt.Sprintf("nats://127.0.0.1:%d", port)
	}
	var nc *nats.Conn
	var err error
	for range 100 {
		if nc, err = nats.Connect(url); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("connecting to %s: %v", url, err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}

func delivery(n uint64, subject string) outbox.Delivery {
	id := wire.Uint128{Lo: n, Hi: 0x7a}
	return outbox.Delivery{ID: id, Key: id.String(), Token: 3, Attempt: 1, Target: []byte(subject), Payload: []byte(fmt.Sprint(n))}
}

// TestSinkDeduplicatesWithinTheWindow: re-deliveries of the same keys
// (single and in batches) within the stream's duplicate window are stored
// once and answer the original's sequence; beyond the window a
// re-delivery is stored again (the documented limit).
func TestSinkDeduplicatesWithinTheWindow(t *testing.T) {
	js := startServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	stream, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "EFFECTS", Subjects: []string{"effects.>"}, Duplicates: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	s := New(js, Config{Stream: "EFFECTS"})
	first, err := s.Deliver(ctx, delivery(1, "effects.a"))
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.Deliver(ctx, delivery(1, "effects.a"))
	if err != nil || string(again) != string(first) {
		t.Fatalf("re-delivery: %q %v, want the original's %q", again, err, first)
	}
	ds := make([]outbox.Delivery, 0, 200)
	for n := range uint64(100) {
		ds = append(ds, delivery(n+1, "effects.b"), delivery(n+1, "effects.b"))
	}
	out := make([]outbox.BatchResult, len(ds))
	s.DeliverBatch(ctx, ds, out)
	for i := range out {
		if out[i].Err != nil {
			t.Fatalf("batch %d: %v", i, out[i].Err)
		}
	}
	info, err := stream.Info(ctx)
	if err != nil || info.State.Msgs != 100 {
		t.Fatalf("stream holds %d messages (%v), want 100 (one per key)", info.State.Msgs, err)
	}
	var p *outbox.PermanentError
	if _, err := s.Deliver(ctx, delivery(5, "")); !errors.As(err, &p) || p.Reason != outbox.ReasonBadTarget {
		t.Fatalf("empty subject: %v", err)
	}
	if _, err := s.Deliver(ctx, delivery(6, "elsewhere")); err == nil {
		t.Fatal("a subject outside the stream was accepted")
	}

	// Beyond the window the same key is a new message.
	short, err := js.CreateStream(ctx, jetstream.StreamConfig{Name: "SHORT", Subjects: []string{"short.>"}, Duplicates: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	s2 := New(js, Config{})
	if _, err := s2.Deliver(ctx, delivery(9, "short.x")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // the server purges ids about once per window, at least every second
	if _, err := s2.Deliver(ctx, delivery(9, "short.x")); err != nil {
		t.Fatal(err)
	}
	if info, err := short.Info(ctx); err != nil || info.State.Msgs != 2 {
		t.Fatalf("after the window the stream holds %d messages (%v), want 2", info.State.Msgs, err)
	}
}
