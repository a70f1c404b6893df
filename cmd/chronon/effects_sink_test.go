package main

import (
	"bytes"
	"strings"
	"testing"
)

// TestEffectsSinkFlag: http(s) URLs are sinks of this binary; postgres://
// is refused with the way to use the PostgreSQL sink module (its bridge);
// anything else is refused, before the data file is opened, and so is an
// --effects-admission outside 0..100.
func TestEffectsSinkFlag(t *testing.T) {
	for _, ok := range []string{"http://127.0.0.1:8080/hook", "https://example.com/effects"} {
		if err := checkEffectsSink(ok); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}
	for target, want := range map[string]string{
		"postgres://u@h/db": "chronon-pg-bridge --postgres=postgres://u@h/db",
		"nats://h:4222":     "sinks/nats",
		"ftp://h/x":         "want an http",
		"http:///nohost":    "no host",
	} {
		var stderr bytes.Buffer
		code := runStart([]string{"--addresses=127.0.0.1:1", "--effects-sink=" + target, "/nonexistent"}, &bytes.Buffer{}, &stderr)
		if code != 2 || !strings.Contains(stderr.String(), want) {
			t.Errorf("%s: exit %d, %q; want 2 and %q", target, code, stderr.String(), want)
		}
	}
	var stderr bytes.Buffer
	if code := runStart([]string{"--addresses=127.0.0.1:1", "--effects-admission=101", "/nonexistent"}, &bytes.Buffer{}, &stderr); code != 2 || !strings.Contains(stderr.String(), "--effects-admission") {
		t.Errorf("--effects-admission=101: exit %d, %q", code, stderr.String())
	}
}
