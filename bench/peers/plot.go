package main

import (
	"fmt"
	"io"
	"slices"

	"github.com/chronon-db/chronon/internal/svgplot"
)

// series kinds of the chart: etcd's connection modes and Chronon.
const (
	kindEtcdEach   = "etcd, conn per client"
	kindEtcdShared = "etcd, √clients conns"
	kindChronon    = "Chronon"
)

func kindOf(r *runResult) string {
	switch {
	case r.System == systemChronon:
		return kindChronon
	case r.Connections >= r.Clients:
		return kindEtcdEach
	default:
		return kindEtcdShared
	}
}

// writeSVG draws puts/s against client sessions (log-log), a line per
// system and connection mode, each point the mean of its successful
// rounds and labelled with their mean p99. Failed runs leave their point
// out.
func (r *report) writeSVG(w io.Writer) error {
	type key struct {
		kind    string
		clients int
	}
	type sum struct {
		n         int
		rate, p99 float64
	}
	sums := map[key]*sum{}
	for i := range r.Runs {
		run := &r.Runs[i]
		if !run.ok() {
			continue
		}
		k := key{kindOf(run), run.Clients}
		if sums[k] == nil {
			sums[k] = &sum{}
		}
		s := sums[k]
		s.n++
		s.rate += run.Result.EventsPerSecond
		s.p99 += run.Result.Latency.P99
	}
	var series []svgplot.Series
	for i, kind := range []string{kindEtcdEach, kindEtcdShared, kindChronon} {
		s := svgplot.Series{Name: kind, Color: svgplot.Palette(i), Dashed: kind != kindChronon}
		clients := slices.Clone(r.Settings.Clients)
		slices.Sort(clients)
		for _, c := range clients {
			v := sums[key{kind, c}]
			if v == nil {
				continue
			}
			s.Points = append(s.Points, svgplot.Point{X: float64(c), Y: v.rate / float64(v.n), Label: "p99 " + fmtLatency(v.p99/float64(v.n))})
		}
		if len(s.Points) > 0 {
			series = append(series, s)
		}
	}
	m := r.Machine
	return svgplot.Lines(w, svgplot.Chart{
		Title: "kv puts: Chronon and etcd side by side, 3 processes each on loopback",
		Subtitle: fmt.Sprintf("%d B keys, %d B values, 1 put in flight per client; mean of %d alternating rounds of %v; %s, %d cores, load %s",
			r.Settings.KeySize, r.Settings.ValueSize, r.Settings.Rounds, secs(r.Settings.DurationS), r.Date.UTC().Format("2006-01-02"), m.Cores, firstField(m.LoadBefore)),
		XLabel: "client sessions (log scale)",
		YLabel: "puts/s (log scale)",
		LogX:   true, LogY: true,
		Series: series,
	})
}

// firstField returns the first space-separated field of s (the 1-minute
// load average of /proc/loadavg's three).
func firstField(s string) string {
	for i := range len(s) {
		if s[i] == ' ' {
			return s[:i]
		}
	}
	return s
}
