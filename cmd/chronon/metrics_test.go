package main

import (
	"net/http"
	"testing"
)

// TestMetricsServesProfilesOnlyWhenAsked: /debug/pprof/ answers with
// --pprof and is not found without it (the node is not consulted).
func TestMetricsServesProfilesOnlyWhenAsked(t *testing.T) {
	for _, profiling := range []bool{false, true} {
		addr, stop, err := serveMetrics("127.0.0.1:0", nil, profiling)
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range []string{"/debug/pprof/", "/debug/pprof/cmdline"} {
			resp, err := http.Get("http://" + addr + path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			want := http.StatusNotFound
			if profiling {
				want = http.StatusOK
			}
			if resp.StatusCode != want {
				t.Errorf("profiling %v: GET %s: status %d, want %d", profiling, path, resp.StatusCode, want)
			}
		}
		stop()
	}
}
