package svgplot

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"math"
	"slices"
	"strings"
	"testing"
)

// parse checks that doc is well-formed XML with an svg root, and returns
// its character data and the number of each element.
func parse(t *testing.T, doc []byte) (text string, elements map[string]int) {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(doc))
	elements = map[string]int{}
	var b strings.Builder
	root := ""
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("not well-formed XML: %v\n%s", err, doc)
		}
		switch tok := tok.(type) {
		case xml.StartElement:
			if root == "" {
				root = tok.Name.Local
			}
			elements[tok.Name.Local]++
		case xml.CharData:
			b.Write(tok)
		}
	}
	if root != "svg" {
		t.Fatalf("root element %q, want svg", root)
	}
	return b.String(), elements
}

func render(t *testing.T, c Chart) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := Lines(&b, c); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func sample() Chart {
	return Chart{
		Title: "latency vs throughput", Subtitle: "labels: clients",
		XLabel: "throughput (events/s)", YLabel: "latency (ms)", LogX: true, LogY: true,
		Series: []Series{
			{Name: "batch 1 p50", Points: []Point{{1400, 0.6, "1"}, {5000, 1.1, "4"}, {11000, 4.8, "64"}}},
			{Name: "batch 1 p99", Dashed: true, Points: []Point{{1400, 1.5, "1"}, {5000, 3, "4"}, {11000, 15, "64"}}},
			{Name: "batch 128 p50", Color: "#123456", Points: []Point{{3, 2, "1"}, {4e5, 30, "64"}}},
		},
	}
}

func TestLinesWellFormedAndDeterministic(t *testing.T) {
	c := sample()
	a, b := render(t, c), render(t, c)
	if !bytes.Equal(a, b) {
		t.Fatal("two renderings of one chart differ")
	}
	text, el := parse(t, a)
	for _, want := range []string{"latency vs throughput", "labels: clients", "throughput (events/s)", "latency (ms)",
		"batch 1 p50", "batch 128 p50", "64", "1k", "10k", "100k"} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q: %q", want, text)
		}
	}
	// A marker per point plus one per legend entry; a path per series.
	if el["circle"] != 8+3 || el["path"] != 3 {
		t.Errorf("%d circles and %d paths, want 11 and 3", el["circle"], el["path"])
	}
	if !bytes.Contains(a, []byte(`stroke-dasharray`)) || !bytes.Contains(a, []byte(`#123456`)) {
		t.Error("dashed series or explicit colour not drawn")
	}
	// Linear axes draw the same data.
	c.LogX, c.LogY = false, false
	parse(t, render(t, c))
}

// TestLinesOddData draws what cannot be drawn on a log axis (zero,
// negative, NaN, infinite), a single point and empty series: no panic, a
// well-formed document, and a marker for each drawable point only.
func TestLinesOddData(t *testing.T) {
	for name, tc := range map[string]struct {
		chart   Chart
		circles int // markers of points, legend entries excluded
		noData  bool
	}{
		"nothing":          {Chart{}, 0, true},
		"empty series":     {Chart{LogX: true, LogY: true, Series: []Series{{Name: "a"}, {Name: "b", Points: []Point{}}}}, 0, true},
		"one point log":    {Chart{LogX: true, LogY: true, Series: []Series{{Name: "a", Points: []Point{{100, 1000, "x"}}}}}, 1, false},
		"one point linear": {Chart{Series: []Series{{Name: "a", Points: []Point{{0, 0, ""}}}}}, 1, false},
		"negative linear":  {Chart{Series: []Series{{Name: "a", Points: []Point{{-5, -2, ""}, {-1, -7, ""}}}}}, 2, false},
		"undrawable on log": {Chart{LogX: true, LogY: true, Series: []Series{{Name: "a", Points: []Point{
			{0, 1, ""}, {1, 0, ""}, {-1, 5, ""}, {math.NaN(), 2, ""}, {2, math.Inf(1), ""}, {3, 4, ""}, {5, 6, ""}}}}}, 2, false},
		"only undrawable": {Chart{LogY: true, Series: []Series{{Name: "a", Points: []Point{{1, 0, ""}, {math.NaN(), math.NaN(), ""}}}}}, 0, true},
		"tiny size":       {Chart{Width: 10, Height: 10, Series: []Series{{Name: "a", Points: []Point{{1, 1, ""}}}}}, 1, false},
	} {
		t.Run(name, func(t *testing.T) {
			doc := render(t, tc.chart)
			text, el := parse(t, doc)
			if got := el["circle"] - len(tc.chart.Series); got != tc.circles {
				t.Errorf("%d point markers, want %d", got, tc.circles)
			}
			if strings.Contains(text, "no data") != tc.noData {
				t.Errorf("\"no data\" shown: %v, want %v", !tc.noData, tc.noData)
			}
			if bytes.Contains(doc, []byte("NaN")) || bytes.Contains(doc, []byte("Inf")) {
				t.Errorf("a coordinate is not a number:\n%s", doc)
			}
		})
	}
}

func TestLinesEscapesText(t *testing.T) {
	odd := `a<b & "c" 'd' >e` + "\x00\x1b"
	doc := render(t, Chart{Title: odd, XLabel: odd, Series: []Series{{Name: odd, Color: `"/><script>`, Points: []Point{{1, 2, odd}}}}})
	text, el := parse(t, doc)
	if el["script"] != 0 {
		t.Error("a colour broke out of its attribute")
	}
	if want := `a<b & "c" 'd' >e`; strings.Count(text, want) != 4 {
		t.Errorf("escaped text does not round-trip 4 times: %q", text)
	}
}

type failingWriter struct{}

func (failingWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestLinesReturnsWriteError(t *testing.T) {
	if err := Lines(failingWriter{}, sample()); err == nil || err.Error() != "disk full" {
		t.Fatalf("Lines on a failing writer: %v", err)
	}
}

// checkAxis checks what every axis must hold: ascending ticks inside the
// domain, a readable number of them, and every value inside the domain.
func checkAxis(t *testing.T, name string, a axis, vs []float64) {
	t.Helper()
	pos := func(v float64) float64 {
		if a.log {
			return math.Log10(v)
		}
		return v
	}
	if !(a.lo < a.hi) {
		t.Fatalf("%s: domain %v..%v", name, a.lo, a.hi)
	}
	if len(a.ticks) < 2 || len(a.ticks) > 12 {
		t.Errorf("%s: %d ticks %v", name, len(a.ticks), a.ticks)
	}
	if !slices.IsSorted(a.ticks) || len(slices.Compact(slices.Clone(a.ticks))) != len(a.ticks) {
		t.Errorf("%s: ticks not strictly ascending: %v", name, a.ticks)
	}
	const eps = 1e-9
	for _, v := range a.ticks {
		if p := pos(v); p < a.lo-eps || p > a.hi+eps {
			t.Errorf("%s: tick %v outside the domain %v..%v", name, v, a.lo, a.hi)
		}
	}
	for _, v := range vs {
		if f := a.frac(v); f < -eps || f > 1+eps {
			t.Errorf("%s: value %v at %v of the axis", name, v, f)
		}
	}
}

func TestAxisTicks(t *testing.T) {
	for _, tc := range []struct {
		vs        []float64
		log       bool
		wantTicks []float64 // nil: only the general checks
	}{
		{[]float64{3, 4e5}, true, []float64{1, 10, 100, 1e3, 1e4, 1e5, 1e6}},
		{[]float64{3, 4e5}, false, []float64{0, 1e5, 2e5, 3e5, 4e5}},
		{[]float64{0.66, 33}, true, []float64{0.5, 1, 2, 5, 10, 20, 50}},
		{[]float64{1400, 11000}, true, []float64{1000, 2000, 5000, 10000, 20000}},
		{[]float64{0.1, 0.7}, false, []float64{0, 0.2, 0.4, 0.6, 0.8}},
		{[]float64{100}, true, []float64{50, 100, 200}},
		{[]float64{7}, false, nil},
		{[]float64{1e-3, 1e12}, true, nil},
		{[]float64{1.0000001, 1.0000002}, true, nil},
		{[]float64{-3, 17}, false, nil},
		{nil, true, nil},
		{nil, false, nil},
	} {
		a := newAxis(tc.vs, tc.log)
		name := strings.TrimSpace(strings.Repeat("log ", boolInt(tc.log))) + formatAll(tc.vs)
		checkAxis(t, name, a, tc.vs)
		if tc.wantTicks != nil && !slices.EqualFunc(a.ticks, tc.wantTicks, func(a, b float64) bool {
			return math.Abs(a-b) <= 1e-9*math.Abs(b)
		}) {
			t.Errorf("%s: ticks %v, want %v", name, a.ticks, tc.wantTicks)
		}
	}
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func formatAll(vs []float64) string {
	var s []string
	for _, v := range vs {
		s = append(s, FormatTick(v))
	}
	return "[" + strings.Join(s, " ") + "]"
}

func TestFormatTick(t *testing.T) {
	for v, want := range map[float64]string{
		0: "0", 0.5: "0.5", 0.001: "0.001", 20: "20", 999: "999", 1000: "1k", 1500: "1.5k", 150_000: "150k",
		1.5e6: "1.5M", 2e9: "2G", -2000: "-2k", 0.30000000000000004: "0.3",
	} {
		if got := FormatTick(v); got != want {
			t.Errorf("FormatTick(%v) = %q, want %q", v, got, want)
		}
	}
}
