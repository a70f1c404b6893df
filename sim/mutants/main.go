// Command mutants measures the simulator against planted bugs.
//
// Each *.patch file in this directory is a small, realistic bug in the
// replica, journal, outbox, node or persist code: a unified diff whose first
// line is a comment ("# what it plants; which invariant should catch it").
// An optional second comment line "# options: --pause --checkpoint-rot"
// names opt-in faults of `chronon vopr` the mutant needs to be reachable
// (see voprOptions); its seeds then run with them. Name only options under
// which the unpatched tree passes the seeds (--power-loss-in-flight, for
// one, stalls some by design), or a catch may be the baseline's failure.
// For every patch, mutants copies the source tree (the files git knows,
// including uncommitted edits) to a temporary directory, applies the patch
// there (never to the working tree), builds itself in that copy and runs the
// simulator's seeds with the same options as `chronon vopr --seeds N`
// (plus the patch's options),
// stopping at the first failing seed. It reports per mutant whether the
// simulator caught it, at which seed and on which invariant, and the score.
//
//	go run ./sim/mutants                    # every mutant, seeds 1..200 (CI's count)
//	go run ./sim/mutants -seeds 1000 -run dvc
//	go run ./sim/mutants -check             # only: every patch applies and builds
//	go run ./sim/mutants -tests             # also `go test -short` the patched packages
//	go run ./sim/mutants -md                # the score as a Markdown table
//
// A patch that no longer applies is reported "stale", one that no longer
// compiles "broken"; either makes the command fail, so the planted bugs
// follow the code they mutate. A missed mutant does not fail the command:
// it is a known blind spot of the simulator (docs/simulator.md, "Planted
// bugs"); -min K fails when fewer than K are caught.
package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chronon-db/chronon/sim"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	seeds   int
	start   uint64
	jobs    int
	filter  *regexp.Regexp
	check   bool
	tests   bool
	md      bool
	min     int
	timeout time.Duration
	keep    bool
}

func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("mutants", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o options
	fs.IntVar(&o.seeds, "seeds", 200, "seeds per mutant (from -start); CI's vopr runs 200")
	fs.Uint64Var(&o.start, "start", 1, "first seed")
	fs.IntVar(&o.jobs, "j", runtime.NumCPU(), "mutants built and run in parallel")
	runRE := fs.String("run", "", "only mutants whose file name matches this regexp")
	fs.BoolVar(&o.check, "check", false, "only check that every patch applies and builds")
	fs.BoolVar(&o.tests, "tests", false, "also run `go test -short` on the packages each patch touches")
	fs.BoolVar(&o.md, "md", false, "print the result table in Markdown")
	fs.IntVar(&o.min, "min", 0, "fail when fewer than this many mutants are caught")
	fs.DurationVar(&o.timeout, "timeout", 15*time.Minute, "per mutant: build plus seeds (a hang counts as caught)")
	fs.BoolVar(&o.keep, "keep", false, "keep the temporary trees (their paths are printed)")
	worker := fs.Bool("worker", false, "internal: run the seeds in this (patched) tree and print the outcome")
	var base sim.Options
	for _, v := range voprOptions {
		fs.BoolVar(v.field(&base), v.flag, false, "internal (worker): vopr's --"+v.flag)
	}
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *worker {
		return runSeeds(base, o.start, o.seeds, stdout)
	}
	re, err := regexp.Compile(*runRE)
	if err != nil {
		fmt.Fprintf(stderr, "mutants: -run: %v\n", err)
		return 2
	}
	o.filter = re
	if o.jobs < 1 {
		o.jobs = 1
	}
	root, err := moduleRoot()
	if err != nil {
		fmt.Fprintf(stderr, "mutants: %v\n", err)
		return 2
	}
	return orchestrate(root, o, stdout, stderr)
}

// voprOptions are the opt-in faults of `chronon vopr` a patch may name on
// its "# options:" line, with the sim.Options field each sets.
var voprOptions = []struct {
	flag  string
	field func(*sim.Options) *bool
}{
	{"power-loss", func(o *sim.Options) *bool { return &o.PowerLoss }},
	{"power-loss-in-flight", func(o *sim.Options) *bool { return &o.PowerLossInFlight }},
	{"pause", func(o *sim.Options) *bool { return &o.Pause }},
	{"checkpoint-rot", func(o *sim.Options) *bool { return &o.CheckpointRot }},
	{"peer-loss", func(o *sim.Options) *bool { return &o.PeerLoss }},
}

// parseOptions checks the words of a patch's "# options:" line: each one
// of voprOptions as --flag. It returns them as worker arguments.
func parseOptions(line string) ([]string, error) {
	var args []string
	for _, w := range strings.Fields(line) {
		name, ok := strings.CutPrefix(w, "--")
		known := false
		for _, v := range voprOptions {
			known = known || (ok && v.flag == name)
		}
		if !known {
			return nil, fmt.Errorf("unknown option %q (want one of --power-loss, --power-loss-in-flight, --pause, --checkpoint-rot, --peer-loss)", w)
		}
		args = append(args, "-"+name)
	}
	if len(args) == 0 {
		return nil, errors.New("empty options line")
	}
	return args, nil
}

// runSeeds is the worker: the simulator with vopr's default options (plus
// base's opt-in faults), seed by seed, up to the first failure. Its last line is "caught SEED INVARIANT
// message" or "missed COUNT"; "seed N" lines before it show progress (the
// seed a hang happened in).
func runSeeds(base sim.Options, start uint64, count int, stdout io.Writer) int {
	w := bufio.NewWriter(stdout)
	defer w.Flush()
	for i := 0; i < count; i++ {
		seed := start + uint64(i)
		fmt.Fprintf(w, "seed %d\n", seed)
		w.Flush()
		o := base
		o.Seed = seed
		r := sim.Run(o)
		if r.Failed() {
			first, _, _ := strings.Cut(fmt.Sprint(r.Err), "\n") // a panic's stack follows
			msg := strings.Join(strings.Fields(first), " ")
			if len(msg) > 200 {
				msg = msg[:200] + "…"
			}
			fmt.Fprintf(w, "caught %d %s %s\n", seed, r.Invariant(), msg)
			return 0
		}
	}
	fmt.Fprintf(w, "missed %d\n", count)
	return 0
}

// mutant is one patch and what became of it.
type mutant struct {
	file    string   // base name, e.g. 03-foo.patch
	comment string   // the patch's first line, without "# "
	options []string // worker flags from the "# options:" line
	pkgs    []string

	status    string // caught, missed, stale, broken, error
	seed      uint64 // first failing seed (caught)
	invariant string
	message   string
	seedsRun  int
	tests     string // "", "pass", "fail"
	elapsed   time.Duration
}

func (m *mutant) name() string { return strings.TrimSuffix(m.file, ".patch") }

func orchestrate(root string, o options, stdout, stderr io.Writer) int {
	dir := filepath.Join(root, "sim", "mutants")
	files, err := filepath.Glob(filepath.Join(dir, "*.patch"))
	if err != nil {
		fmt.Fprintf(stderr, "mutants: %v\n", err)
		return 2
	}
	sort.Strings(files)
	var ms []*mutant
	for _, f := range files {
		if !o.filter.MatchString(filepath.Base(f)) {
			continue
		}
		m, err := readPatch(f)
		if err != nil {
			fmt.Fprintf(stderr, "mutants: %v\n", err)
			return 2
		}
		ms = append(ms, m)
	}
	if len(ms) == 0 {
		fmt.Fprintln(stderr, "mutants: no patch matches")
		return 2
	}
	tracked, err := trackedFiles(root)
	if err != nil {
		fmt.Fprintf(stderr, "mutants: %v\n", err)
		return 2
	}
	tmp, err := os.MkdirTemp("", "chronon-mutants-")
	if err != nil {
		fmt.Fprintf(stderr, "mutants: %v\n", err)
		return 2
	}
	if !o.keep {
		defer os.RemoveAll(tmp)
	}
	mode := fmt.Sprintf("seeds %d..%d", o.start, o.start+uint64(o.seeds)-1)
	if o.check {
		mode = "apply and build only"
	}
	fmt.Fprintf(stdout, "%d mutants, %s, %d in parallel\n", len(ms), mode, o.jobs)
	began := time.Now()
	var mu sync.Mutex
	work := make(chan *mutant)
	var wg sync.WaitGroup
	for range o.jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for m := range work {
				t0 := time.Now()
				evaluate(root, filepath.Join(tmp, m.name()), tracked, m, o)
				m.elapsed = time.Since(t0)
				if !o.keep {
					os.RemoveAll(filepath.Join(tmp, m.name()))
				}
				mu.Lock()
				fmt.Fprintln(stdout, m.line())
				mu.Unlock()
			}
		}()
	}
	for _, m := range ms {
		work <- m
	}
	close(work)
	wg.Wait()
	if o.keep {
		fmt.Fprintf(stdout, "trees kept in %s\n", tmp)
	}
	return summarize(ms, o, time.Since(began), stdout)
}

func (m *mutant) line() string {
	s := fmt.Sprintf("%-40s %-7s", m.name(), m.status)
	switch m.status {
	case "caught":
		s += fmt.Sprintf(" seed %d (%d seeds) %s: %s", m.seed, m.seedsRun, m.invariant, m.message)
	case "missed":
		s += fmt.Sprintf(" %d seeds", m.seedsRun)
	case "ok":
	default:
		s += " " + m.message
	}
	if m.tests != "" {
		s += " [go test: " + m.tests + "]"
	}
	return s + fmt.Sprintf(" (%v)", m.elapsed.Round(time.Second))
}

func summarize(ms []*mutant, o options, elapsed time.Duration, stdout io.Writer) int {
	caught, bad := 0, 0
	for _, m := range ms {
		switch m.status {
		case "caught":
			caught++
		case "missed", "ok":
		default:
			bad++
		}
	}
	if o.md {
		fmt.Fprintln(stdout)
		fmt.Fprintln(stdout, "| mutant | plants | result | first failing seed | invariant |")
		fmt.Fprintln(stdout, "|---|---|---|---|---|")
		for _, m := range ms {
			seed, inv := "—", "—"
			if m.status == "caught" {
				seed, inv = strconv.FormatUint(m.seed, 10), m.invariant
			}
			plants := strings.ReplaceAll(m.comment, "|", "\\|")
			if len(m.options) > 0 {
				plants += " (with " + strings.Join(m.options, " ") + ")"
			}
			fmt.Fprintf(stdout, "| `%s` | %s | %s | %s | %s |\n", m.name(), plants, m.status, seed, inv)
		}
	}
	fmt.Fprintln(stdout)
	if o.check {
		fmt.Fprintf(stdout, "%d of %d patches apply and build (%v)\n", len(ms)-bad, len(ms), elapsed.Round(time.Second))
	} else {
		fmt.Fprintf(stdout, "caught %d of %d with seeds %d..%d (%v)\n", caught, len(ms), o.start, o.start+uint64(o.seeds)-1, elapsed.Round(time.Second))
	}
	if bad > 0 {
		fmt.Fprintf(stdout, "FAIL: %d patches are stale or do not build or run; update them to the code they mutate\n", bad)
		return 1
	}
	if !o.check && caught < o.min {
		fmt.Fprintf(stdout, "FAIL: fewer than %d caught\n", o.min)
		return 1
	}
	return 0
}

// evaluate copies the tree to dst, applies m's patch, builds and runs it.
func evaluate(root, dst string, tracked []string, m *mutant, o options) {
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
	defer cancel()
	if err := copyTree(root, dst, tracked); err != nil {
		m.status, m.message = "error", err.Error()
		return
	}
	patch := filepath.Join(root, "sim", "mutants", m.file)
	if out, err := command(ctx, dst, "git", "apply", "--check", patch); err != nil {
		m.status, m.message = "stale", firstLine(out, err)
		return
	}
	if out, err := command(ctx, dst, "git", "apply", patch); err != nil {
		m.status, m.message = "stale", firstLine(out, err)
		return
	}
	if o.check {
		// go vet type-checks the patched packages (it fails where they do
		// not compile) and vets them: no binary needs linking.
		if out, err := command(ctx, dst, "go", append([]string{"vet"}, m.pkgs...)...); err != nil {
			m.status, m.message = "broken", firstLine(out, err)
			return
		}
		m.status = "ok"
		return
	}
	bin := filepath.Join(dst, "mutant.bin")
	if out, err := command(ctx, dst, "go", "build", "-o", bin, "./sim/mutants"); err != nil {
		m.status, m.message = "broken", firstLine(out, err)
		return
	}
	if o.tests {
		m.tests = "pass"
		if _, err := command(ctx, dst, "go", append([]string{"test", "-short", "-count=1"}, m.pkgs...)...); err != nil {
			m.tests = "fail"
			if ctx.Err() != nil {
				m.tests = "timeout"
			}
		}
	}
	args := append([]string{"-worker", "-seeds", strconv.Itoa(o.seeds), "-start", strconv.FormatUint(o.start, 10)}, m.options...)
	out, err := command(ctx, dst, bin, args...)
	parseWorker(m, out)
	switch {
	case ctx.Err() != nil:
		// Deterministic, so a hang repeats: CI would time out on it.
		m.status, m.invariant, m.message = "caught", "hang", fmt.Sprintf("no result within %v", o.timeout)
	case err != nil && m.status == "":
		m.status, m.message = "error", firstLine(out, err)
	case m.status == "":
		m.status, m.message = "error", "the worker printed no result"
	}
}

func parseWorker(m *mutant, out []byte) {
	for _, line := range strings.Split(string(out), "\n") {
		f := strings.SplitN(line, " ", 4)
		switch f[0] {
		case "seed":
			if len(f) > 1 {
				m.seed, _ = strconv.ParseUint(f[1], 10, 64)
				m.seedsRun++
			}
		case "caught":
			if len(f) == 4 {
				m.status, m.invariant, m.message = "caught", f[2], f[3]
				m.seed, _ = strconv.ParseUint(f[1], 10, 64)
			}
		case "missed":
			m.status = "missed"
		}
	}
}

func readPatch(path string) (*mutant, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	first, _, _ := strings.Cut(string(b), "\n")
	if !strings.HasPrefix(first, "# ") {
		return nil, fmt.Errorf("%s: the first line must be a comment: # what it plants; which invariant should catch it", path)
	}
	m := &mutant{file: filepath.Base(path), comment: strings.TrimPrefix(first, "# ")}
	_, rest, _ := strings.Cut(string(b), "\n")
	second, _, _ := strings.Cut(rest, "\n")
	if line, ok := strings.CutPrefix(second, "# options:"); ok {
		if m.options, err = parseOptions(line); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
	}
	seen := map[string]bool{}
	for _, line := range strings.Split(string(b), "\n") {
		if p, ok := strings.CutPrefix(line, "+++ b/"); ok {
			pkg := "./" + filepath.Dir(p)
			if !seen[pkg] {
				seen[pkg] = true
				m.pkgs = append(m.pkgs, pkg)
			}
		}
	}
	if len(m.pkgs) == 0 {
		return nil, fmt.Errorf("%s: no file in the patch", path)
	}
	return m, nil
}

func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the current directory")
		}
		dir = parent
	}
}

// trackedFiles lists the files of the tree to copy: what git tracks plus
// untracked files that are not ignored, as they are on disk now.
func trackedFiles(root string) ([]string, error) {
	out, err := command(context.Background(), root, "git", "ls-files", "-z", "--cached", "--others", "--exclude-standard")
	if err != nil {
		return nil, fmt.Errorf("git ls-files: %s", firstLine(out, err))
	}
	var files []string
	for _, f := range bytes.Split(out, []byte{0}) {
		if len(f) > 0 {
			files = append(files, string(f))
		}
	}
	return files, nil
}

func copyTree(root, dst string, files []string) error {
	for _, f := range files {
		src := filepath.Join(root, f)
		info, err := os.Lstat(src)
		if errors.Is(err, os.ErrNotExist) {
			continue // deleted in the working tree
		}
		if err != nil {
			return err
		}
		if !info.Mode().IsRegular() {
			continue
		}
		b, err := os.ReadFile(src)
		if err != nil {
			return err
		}
		to := filepath.Join(dst, f)
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(to, b, info.Mode().Perm()); err != nil {
			return err
		}
	}
	return nil
}

func command(ctx context.Context, dir, name string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Dir = dir
	// The copy is not a git repository: git apply works on plain files.
	cmd.Env = append(os.Environ(), "GIT_CEILING_DIRECTORIES="+filepath.Dir(dir))
	return cmd.CombinedOutput()
}

func firstLine(out []byte, err error) string {
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(line)
		if line != "" && !strings.HasPrefix(line, "#") {
			return line
		}
	}
	return err.Error()
}
