package io

import (
	"testing"
)

// TestNoAllocations checks the hot paths allocate nothing per operation, on
// both backends.
func TestNoAllocations(t *testing.T) {
	if testing.CoverMode() != "" {
		t.Skip("coverage instrumentation allocates")
	}
	forEachBackend(t, 64, func(t *testing.T, io *IO) {
		f := openTestFile(t, 1<<20)
		buf := AlignedBuffer(SectorSize)
		client, server := connectPair(t, io, true)
		msg, in := make([]byte, 256), make([]byte, 256)
		var done int
		count := func(c *Completion) {
			if c.Err != nil {
				t.Errorf("%v: %v", c.Operation(), c.Err)
			}
			done++
		}
		var w, s, d, sc, rc, tc Completion
		for _, c := range []*Completion{&w, &s, &d, &sc, &rc, &tc} {
			c.Callback = count
		}
		cases := []struct {
			name string
			op   func()
			ops  int
		}{
			{"write+fdatasync", func() {
				must(t, io.WriteFile(&w, f, buf, 0))
				waitFor(t, io, &done, 1)
				must(t, io.Fdatasync(&s, f.Fd))
				waitFor(t, io, &done, 2)
			}, 2},
			{"raw write+read", func() {
				must(t, io.Write(&w, f.Fd, buf, 0))
				waitFor(t, io, &done, 1)
				must(t, io.Read(&s, f.Fd, buf, 0))
				waitFor(t, io, &done, 2)
			}, 2},
			{"durable write", func() {
				must(t, io.WriteDurable(&d, f, buf, 0))
				waitFor(t, io, &done, 1)
			}, 1},
			{"send+recv", func() {
				must(t, io.Send(&sc, client, msg))
				must(t, io.Recv(&rc, server, in))
				waitFor(t, io, &done, 2)
			}, 2},
			{"timeout", func() {
				must(t, io.Timeout(&tc, 0))
				waitFor(t, io, &done, 1)
			}, 1},
		}
		for _, c := range cases {
			allocs := testing.AllocsPerRun(50, func() {
				done = 0
				c.op()
			})
			if allocs != 0 {
				t.Errorf("%s: %.1f allocations per run, want 0", c.name, allocs)
			}
		}
	})
}

func must(t testing.TB, err error) {
	if err != nil {
		t.Helper()
		t.Fatal(err)
	}
}

// waitFor runs the loop until *done reaches n (no closures: allocation-free).
func waitFor(t testing.TB, io *IO, done *int, n int) {
	for i := 0; *done < n; i++ {
		if i > 1e6 {
			t.Fatalf("stuck at %d of %d completions", *done, n)
		}
		if _, err := io.Wait(int64(1e9)); err != nil {
			t.Fatal(err)
		}
	}
}
