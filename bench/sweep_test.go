package bench

import (
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chronon-db/chronon/statemachine"
)

// tinyKV is a kv run against one in-process replica of the test preset.
func tinyKV(t *testing.T) Config {
	return Config{
		Workload: WorkloadKV, Replicas: 1, Preset: "test", Dir: t.TempDir(),
		NewStateMachine: kvMachine(64),
		Callers:         1, Warmup: 50 * time.Millisecond, Duration: 300 * time.Millisecond,
		KeySize: 8, ValueSize: 16, Keys: 64,
	}
}

// TestSweepRuns is a real sweep of 2 batch sizes by 2 client counts: the
// first batch size (4,000 puts, above the test preset's message size)
// fails at every call, and the sweep must record those points with their
// error and go on to the others against the same cluster. The files it
// writes must hold a row and an element per point, in order.
func TestSweepRuns(t *testing.T) {
	sc := SweepConfig{Base: tinyKV(t), Clients: []int{1, 2}, Batches: []int{4000, 3}, Pause: 10 * time.Millisecond}
	var calls []int
	sc.OnPoint = func(i, n int, points []SweepPoint) {
		if n != 4 || len(points) != i+1 {
			t.Errorf("OnPoint(%d, %d) with %d points", i, n, len(points))
		}
		calls = append(calls, i)
	}
	points, err := Sweep(context.Background(), sc)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(calls, []int{0, 1, 2, 3}) {
		t.Errorf("OnPoint calls %v", calls)
	}
	want := [][2]int{{1, 4000}, {2, 4000}, {1, 3}, {2, 3}}
	if len(points) != len(want) {
		t.Fatalf("%d points, want %d", len(points), len(want))
	}
	var addresses []string
	for i, p := range points {
		if p.Clients != want[i][0] || p.Batch != want[i][1] || p.Workload != WorkloadKV {
			t.Errorf("point %d: clients %d batch %d workload %q, want %v", i, p.Clients, p.Batch, p.Workload, want[i])
		}
		if failed := p.Batch == 4000; failed != (p.Error != "") || failed && !strings.Contains(p.Error, "too large") {
			t.Errorf("point %d (batch %d): error %q", i, p.Batch, p.Error)
			continue
		}
		if p.Error != "" {
			continue
		}
		if !p.InProcess || p.Replicas != 1 || p.Partial || p.Requests <= 0 || p.Events != 3*p.Requests {
			t.Errorf("point %d: %+v", i, p.Result)
		}
		// Every point ran against the one cluster started for the sweep.
		if addresses == nil {
			addresses = p.Addresses
		} else if !slices.Equal(addresses, p.Addresses) {
			t.Errorf("point %d ran against %v, an earlier one against %v", i, p.Addresses, addresses)
		}
	}
	checkSweepFiles(t, points)
}

// checkSweepFiles writes the CSV, JSON and SVG of points and checks
// that they hold every point, in order.
func checkSweepFiles(t *testing.T, points []SweepPoint) {
	t.Helper()
	var b bytes.Buffer
	if err := WriteSweepCSV(&b, points); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&b).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) != len(points)+1 || !slices.Equal(rows[0], sweepColumns) {
		t.Fatalf("CSV of %d points: %d rows, header %q", len(points), len(rows), rows[0])
	}
	col := func(name string) int { return slices.Index(sweepColumns, name) }
	for i, p := range points {
		row := rows[i+1]
		events, _ := strconv.ParseFloat(row[col("events_per_s")], 64)
		p99, _ := strconv.ParseFloat(row[col("p99_us")], 64)
		switch {
		case row[col("clients")] != strconv.Itoa(p.Clients), row[col("batch")] != strconv.Itoa(p.Batch),
			row[col("workload")] != p.Workload, row[col("error")] != p.Error, row[col("note")] != p.Note,
			row[col("requests")] != strconv.FormatInt(p.Requests, 10):
			t.Errorf("CSV row %d %q for point %+v", i, row, p)
		case !near(events, p.EventsPerSecond, 0.05) || !near(p99, p.Latency.P99, 0.05):
			t.Errorf("CSV row %d: events/s %v, p99 %v; point has %v, %v", i, events, p99, p.EventsPerSecond, p.Latency.P99)
		}
	}

	b.Reset()
	if err := WriteSweepJSON(&b, points); err != nil {
		t.Fatal(err)
	}
	var back []SweepPoint
	dec := json.NewDecoder(&b)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&back); err != nil {
		t.Fatal(err)
	}
	if len(back) != len(points) {
		t.Fatalf("JSON of %d points has %d", len(points), len(back))
	}
	for i := range back {
		if back[i].Clients != points[i].Clients || back[i].Batch != points[i].Batch || back[i].Error != points[i].Error ||
			back[i].Requests != points[i].Requests || back[i].Latency != points[i].Latency {
			t.Errorf("JSON element %d: %+v, want %+v", i, back[i], points[i])
		}
	}

	b.Reset()
	if err := WriteSweepSVG(&b, points, "a note & more"); err != nil {
		t.Fatal(err)
	}
	dx := xml.NewDecoder(&b)
	for {
		_, err := dx.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed: %v", err)
		}
	}
}

func near(a, b, tol float64) bool { return a-b <= tol && b-a <= tol }

// TestSweepInterrupted ends the context after the first point: the sweep
// must stop there and return that point with the context's error.
func TestSweepInterrupted(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sc := SweepConfig{Base: tinyKV(t), Clients: []int{1, 2}, Batches: []int{1}, Pause: time.Hour,
		OnPoint: func(int, int, []SweepPoint) { cancel() }}
	points, err := Sweep(ctx, sc)
	if !errors.Is(err, context.Canceled) || len(points) != 1 || points[0].Error != "" || points[0].Requests == 0 {
		t.Fatalf("Sweep: %v, points %+v", err, points)
	}
}

func TestSweepCheck(t *testing.T) {
	base := Config{Workload: WorkloadLedger, Replicas: 3, Preset: "test", NewStateMachine: func() statemachine.StateMachine { return nil },
		Clients: 1, Callers: 1, Batch: 8, Duration: time.Second, Accounts: 10, Transfers: 1000}
	good := SweepConfig{Base: base, Clients: []int{1, 4}, Batches: []int{8, 16}}
	if err := good.Check(); err != nil {
		t.Fatal(err)
	}
	if got := good.Points(); !slices.Equal(got, [][2]int{{1, 8}, {4, 8}, {1, 16}, {4, 16}}) {
		t.Errorf("points in order %v", got)
	}
	// The ledger's transfers are split between the points.
	if cfg := good.pointConfig(4, 16, 4); cfg.Transfers != 250 || cfg.Clients != 4 || cfg.Batch != 16 {
		t.Errorf("point config: %+v", cfg)
	}
	for name, mutate := range map[string]func(*SweepConfig){
		"no clients":      func(s *SweepConfig) { s.Clients = nil },
		"no batches":      func(s *SweepConfig) { s.Batches = []int{} },
		"zero clients":    func(s *SweepConfig) { s.Clients = []int{0, 1} },
		"repeated batch":  func(s *SweepConfig) { s.Batches = []int{8, 8} },
		"negative pause":  func(s *SweepConfig) { s.Pause = -time.Second },
		"transfers split": func(s *SweepConfig) { s.Batches = []int{8, 64} }, // 250 each < 4 batches of 64
		"bad point":       func(s *SweepConfig) { s.Base.Workload = "sql" },
	} {
		s := good
		mutate(&s)
		if err := s.Check(); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

// TestSweepWriters checks the files of made-up points: a failed point
// (its error holding a comma and a quote) keeps its row, and the chart
// draws a p50 and a p99 line per batch size without the failed point.
func TestSweepWriters(t *testing.T) {
	pt := func(clients, batch int, eps, p50, p99 float64, err string) SweepPoint {
		return SweepPoint{Result: Result{Workload: "kv", Replicas: 3, InProcess: true, Preset: "production", Clients: clients,
			Callers: 1, Batch: batch, Requests: int64(eps), Events: int64(eps) * int64(batch), ElapsedSeconds: 1,
			RequestsPerSecond: eps / float64(batch), EventsPerSecond: eps, Latency: LatencyResult{P50: p50, P90: p99, P99: p99, P999: p99, Max: p99}},
			Error: err}
	}
	points := []SweepPoint{
		pt(1, 1, 1400, 620, 1560, ""), pt(64, 1, 11000, 4800, 15200, ""),
		pt(1, 16, 20000, 700, 2000, ""), pt(64, 16, 0, 0, 0, `bench: client 64: "refused", full`),
	}
	points[2].Note = "interrupted"
	checkSweepFiles(t, points)
	c := SweepChart(points, "")
	if len(c.Series) != 4 || !c.LogX || !c.LogY {
		t.Fatalf("chart: %+v", c)
	}
	if n := len(c.Series[2].Points); n != 1 || c.Series[2].Points[0].Label != "1" || c.Series[3].Points[0].Y != 2 {
		t.Errorf("batch 16 series: %+v %+v", c.Series[2], c.Series[3])
	}
	if c.Series[0].Name != "batch 1: p50" || c.Series[1].Name != "batch 1: p99" || !c.Series[1].Dashed ||
		!strings.Contains(c.Title, "kv") || !strings.Contains(c.Subtitle, "1 caller per client") {
		t.Errorf("chart: %q %q %q %q", c.Title, c.Subtitle, c.Series[0].Name, c.Series[1].Name)
	}
	var b bytes.Buffer
	if err := WriteSweepText(&b, points); err != nil {
		t.Fatal(err)
	}
	if lines := strings.Count(b.String(), "\n"); lines != 5 || !strings.Contains(b.String(), "failed: bench: client 64") {
		t.Errorf("text table:\n%s", b.String())
	}
	// No points: a header, an empty array, a chart saying so.
	checkSweepFiles(t, nil)
}

func TestParseCounts(t *testing.T) {
	got, err := ParseCounts("1, 4,16")
	if err != nil || !slices.Equal(got, []int{1, 4, 16}) {
		t.Fatalf("ParseCounts(\"1, 4,16\") = %v, %v", got, err)
	}
	for _, bad := range []string{"", "1,x", "0,4", "4,4", "-2"} {
		if got, err := ParseCounts(bad); err == nil {
			t.Errorf("ParseCounts(%q) = %v, want an error", bad, got)
		}
	}
}
