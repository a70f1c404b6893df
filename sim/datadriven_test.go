package sim

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

// A small data-driven test format (after cockroachdb/datadriven, as
// etcd-raft uses it): a file is a sequence of directives, each a command
// line, a line "----" and the expected output, ended by a blank line.
// Lines starting with '#' and blank lines between directives are comments.
//
//	# comment
//	command key=value key=a,b flag
//	----
//	expected output
//
// An expected output has no blank lines. With -rewrite the files are
// written back with the actual output in place of the expected one.

var rewrite = flag.Bool("rewrite", false, "rewrite the expected output of sim/testdata/scenarios/*.txt")

// ddArg is one argument of a directive: key=v1,v2 or a bare key.
type ddArg struct {
	key  string
	vals []string
}

// ddDirective is one command of a data-driven file.
type ddDirective struct {
	line     int      // 1-based line of the command
	before   []string // comment and blank lines preceding the command
	cmd      string
	raw      string
	args     []ddArg
	expected string
}

// ddFile is a parsed data-driven file.
type ddFile struct {
	path       string
	directives []*ddDirective
	trailer    []string // comment and blank lines after the last directive
}

// parseDD parses the data-driven file at path.
func parseDD(path string) (*ddFile, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f := &ddFile{path: path}
	lines := strings.Split(strings.TrimSuffix(string(data), "\n"), "\n")
	var before []string
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		if t := strings.TrimSpace(l); t == "" || strings.HasPrefix(t, "#") {
			before = append(before, l)
			continue
		}
		d := &ddDirective{line: i + 1, before: before, raw: strings.TrimSpace(l)}
		before = nil
		fields := strings.Fields(d.raw)
		d.cmd = fields[0]
		for _, fl := range fields[1:] {
			k, v, ok := strings.Cut(fl, "=")
			a := ddArg{key: k}
			if ok {
				a.vals = strings.Split(v, ",")
			}
			d.args = append(d.args, a)
		}
		if i+1 >= len(lines) || lines[i+1] != "----" {
			return nil, fmt.Errorf("%s:%d: %q is not followed by ----", path, i+1, d.raw)
		}
		i += 2
		var out []string
		for ; i < len(lines) && lines[i] != ""; i++ {
			out = append(out, lines[i])
		}
		d.expected = strings.Join(out, "\n")
		f.directives = append(f.directives, d)
	}
	f.trailer = before
	return f, nil
}

// substitute returns a copy of f with every argument value equal to
// name (a variable, "$k") replaced by value.
func (f *ddFile) substitute(name, value string) *ddFile {
	g := *f
	g.directives = make([]*ddDirective, len(f.directives))
	for i, d := range f.directives {
		e := *d
		e.args = make([]ddArg, len(d.args))
		for j, a := range d.args {
			e.args[j] = ddArg{key: a.key, vals: append([]string(nil), a.vals...)}
			for k, v := range a.vals {
				if v == name {
					e.args[j].vals[k] = value
				}
			}
		}
		g.directives[i] = &e
	}
	return &g
}

// format renders the file with outputs in place of the expected outputs.
func (f *ddFile) format(outputs []string) string {
	var b strings.Builder
	for i, d := range f.directives {
		for _, l := range d.before {
			b.WriteString(l + "\n")
		}
		b.WriteString(d.raw + "\n----\n")
		if outputs[i] != "" {
			b.WriteString(outputs[i] + "\n")
		}
		if i < len(f.directives)-1 || len(f.trailer) > 0 {
			b.WriteString("\n")
		}
	}
	for _, l := range f.trailer {
		b.WriteString(l + "\n")
	}
	return b.String()
}

// has reports whether the directive has the argument key.
func (d *ddDirective) has(key string) bool {
	for _, a := range d.args {
		if a.key == key {
			return true
		}
	}
	return false
}

// vals returns the values of argument key (nil when absent).
func (d *ddDirective) vals(key string) []string {
	for _, a := range d.args {
		if a.key == key {
			return a.vals
		}
	}
	return nil
}

// str returns the single value of argument key, or def.
func (d *ddDirective) str(key, def string) string {
	if v := d.vals(key); len(v) > 0 {
		return v[0]
	}
	return def
}

// ints returns the values of argument key as integers, or def.
func (d *ddDirective) ints(key string, def ...int) ([]int, error) {
	v := d.vals(key)
	if v == nil {
		return def, nil
	}
	out := make([]int, len(v))
	for i, s := range v {
		if _, err := fmt.Sscan(s, &out[i]); err != nil {
			return nil, fmt.Errorf("%s=%s: not a number", key, s)
		}
	}
	return out, nil
}

// int returns the single integer value of argument key, or def.
func (d *ddDirective) int(key string, def int) (int, error) {
	v, err := d.ints(key, def)
	if err != nil {
		return 0, err
	}
	if len(v) != 1 {
		return 0, fmt.Errorf("%s: want one value", key)
	}
	return v[0], nil
}

// float returns the single float value of argument key, or def.
func (d *ddDirective) float(key string, def float64) (float64, error) {
	v := d.str(key, "")
	if v == "" {
		return def, nil
	}
	var x float64
	if _, err := fmt.Sscan(v, &x); err != nil {
		return 0, fmt.Errorf("%s=%s: not a number", key, v)
	}
	return x, nil
}

// runDD runs the parsed file f: run is called once per variant with the
// directives and returns their outputs. Variants whose outputs differ for
// a directive are shown under "name:" headers. It compares the result
// with the expected outputs, or rewrites the file with -rewrite.
func runDD(t *testing.T, f *ddFile, variants []string, run func(t *testing.T, variant int, f *ddFile) []string) {
	t.Helper()
	path := f.path
	all := make([][]string, len(variants))
	for v := range variants {
		all[v] = run(t, v, f)
		if t.Failed() {
			return
		}
	}
	outputs := make([]string, len(f.directives))
	for i := range f.directives {
		same := true
		for v := range variants {
			same = same && all[v][i] == all[0][i]
		}
		if same {
			outputs[i] = all[0][i]
			continue
		}
		var parts []string
		for v, name := range variants {
			parts = append(parts, name+":")
			if all[v][i] != "" {
				parts = append(parts, all[v][i])
			}
		}
		outputs[i] = strings.Join(parts, "\n")
	}
	if *rewrite {
		if err := os.WriteFile(path, []byte(f.format(outputs)), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	for i, d := range f.directives {
		if outputs[i] != d.expected {
			t.Errorf("%s:%d: %s\nexpected:\n%s\ngot:\n%s", path, d.line, d.raw, indent(d.expected), indent(outputs[i]))
		}
	}
}

// clean turns command output into an expected-output block: trailing
// spaces and blank lines removed.
func clean(s string) string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		if l := strings.TrimRight(sc.Text(), " \t"); l != "" {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

func indent(s string) string {
	if s == "" {
		return "  (nothing)"
	}
	return "  " + strings.ReplaceAll(s, "\n", "\n  ")
}
