package io

import (
	"bytes"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"testing"
)

func TestBackendSelection(t *testing.T) {
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))

	t.Setenv(EnvBackend, "fallback")
	io, err := New(Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if io.Backend() != BackendFallback || io.Entries() != EntriesDefault {
		t.Errorf("env fallback: backend %v entries %d", io.Backend(), io.Entries())
	}
	io.Close()
	if !strings.Contains(logs.String(), "backend=fallback") || !strings.Contains(logs.String(), "source="+EnvBackend) {
		t.Errorf("log line %q does not say the fallback was chosen by %s", logs.String(), EnvBackend)
	}

	t.Setenv(EnvBackend, "bogus")
	if _, err := New(Options{Logger: logger}); !errors.Is(err, ErrInvalid) {
		t.Errorf("bogus %s: %v, want ErrInvalid", EnvBackend, err)
	}
	// The option wins over the environment.
	io, err = New(Options{Backend: BackendFallback, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	io.Close()
	t.Setenv(EnvBackend, "")

	if _, err := New(Options{Entries: EntriesMax + 1, Logger: logger}); !errors.Is(err, ErrInvalid) {
		t.Errorf("too many entries: %v", err)
	}

	// io_uring refused: auto falls back and says why; forcing it fails.
	uringUnavailable = errors.New("simulated seccomp EPERM")
	defer func() { uringUnavailable = nil }()
	logs.Reset()
	io, err = New(Options{Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	if io.Backend() != BackendFallback {
		t.Errorf("auto with io_uring refused chose %v", io.Backend())
	}
	io.Close()
	if !strings.Contains(logs.String(), "simulated seccomp EPERM") {
		t.Errorf("log line %q does not give the reason", logs.String())
	}
	if _, err := New(Options{Backend: BackendIOUring, Logger: logger}); !errors.Is(err, ErrBackendUnavailable) {
		t.Errorf("forced io_uring while refused: %v, want ErrBackendUnavailable", err)
	}
	t.Setenv(EnvBackend, "io_uring")
	if _, err := New(Options{Logger: logger}); !errors.Is(err, ErrBackendUnavailable) {
		t.Errorf("io_uring forced by env while refused: %v, want ErrBackendUnavailable", err)
	}
}

func TestAutoPrefersIOUring(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("io_uring is Linux-only")
	}
	t.Setenv(EnvBackend, "")
	io, err := New(Options{Logger: quietLogger})
	if err != nil {
		t.Fatal(err)
	}
	defer io.Close()
	if io.Backend() != BackendIOUring {
		if _, err := New(Options{Backend: BackendIOUring, Logger: quietLogger}); err != nil {
			t.Skipf("io_uring unavailable here: %v", err)
		}
		t.Fatalf("auto chose %v although io_uring works", io.Backend())
	}
}

func TestParseBackend(t *testing.T) {
	for _, b := range []Backend{BackendAuto, BackendIOUring, BackendFallback} {
		got, err := ParseBackend(b.String())
		if err != nil || got != b {
			t.Errorf("ParseBackend(%q) = %v, %v", b.String(), got, err)
		}
	}
	if Backend(9).String() == "" || Operation(99).String() == "" {
		t.Error("unknown values need a name")
	}
}
