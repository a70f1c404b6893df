package main

import (
	"bytes"
	"strings"
	"testing"
)

func TestParseTimestamp(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"", 0, true},
		{"1796680152924802634", 1796680152924802634, true},
		{"2026-12-07T21:49:12.924802634Z", 1796680152924802634, true},
		{"2026-12-07T22:49:12.924802634+01:00", 1796680152924802634, true},
		{"1969-12-31T23:59:59Z", 0, false},
		{"yesterday", 0, false},
		{"-5", 0, false},
	} {
		got, err := parseTimestamp(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("parseTimestamp(%q) = %d, %v; want %d, ok %v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// TestClientHistoryUsage checks the history command's argument errors,
// which are found before any request.
func TestClientHistoryUsage(t *testing.T) {
	for _, args := range [][]string{
		{},
		{"1", "2"},
		{"--limit=-1", "1"},
		{"zz"},
		{"1", "--from=yesterday"},
	} {
		var out, errs bytes.Buffer
		if code := clientHistory(t.Context(), nil, args, &out, &errs); code != 2 || !strings.Contains(errs.String(), "chronon client history") {
			t.Errorf("history %q: exit %d, stderr %q", args, code, errs.String())
		}
	}
}
