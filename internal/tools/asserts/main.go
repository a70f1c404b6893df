// Command asserts counts the assertions of Chronon's packages, per package
// and per function, so the figures in docs/architecture.md ("Assertions")
// can be rerun by anyone:
//
//	go run ./internal/tools/asserts                 # every package, a table
//	go run ./internal/tools/asserts -md             # the same as Markdown
//	go run ./internal/tools/asserts -funcs journal  # per function, one package
//	go run ./internal/tools/asserts -require journal=2,wire=1
//
// What counts as one assertion, in the non-test .go files of a package (all
// build-tag variants: a function defined in two files counts twice):
//
//   - a call of invariants.Assert, invariants.Assertf or invariants.Failf
//     (package internal/invariants, whatever name it is imported under);
//   - a panic whose argument is a message: a string literal, a string
//     concatenation that starts with one, or fmt.Sprintf(...). A panic of a
//     value (panic(err), re-panicking a recovered p) is not an assertion and
//     does not count.
//
// An assertion is counted in the function (func declaration, method
// included) whose body contains it, closures included. It is "tag-only"
// when it runs only in builds with the invariants tag: it lies inside
// `if invariants.Enabled { ... }`, or in a function whose first statement
// is `if !invariants.Enabled { return ... }`.
//
// Functions are the func declarations with a body in non-test files; lines
// are all lines of those files (as wc -l counts them).
//
// -require pkg=N,... exits with status 1 when a listed package averages
// fewer than N assertions per function (CI keeps journal/ at its bar).
package main

import (
	"flag"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

const invariantsPath = "github.com/chronon-db/chronon/internal/invariants"

// helpers are the assertion functions of package invariants.
var helpers = map[string]bool{"Assert": true, "Assertf": true, "Failf": true}

// funcCount is the count of one function.
type funcCount struct {
	Name    string // Recv.Name or Name
	File    string // base name
	Line    int
	Asserts int // helper calls and message panics
	TagOnly int // of Asserts, those only in invariants builds
}

// pkgCount is the count of one package (directory).
type pkgCount struct {
	Dir   string // relative to the module root, slash-separated
	Lines int
	Funcs []funcCount
}

func (p *pkgCount) asserts() (total, tagOnly int) {
	for _, f := range p.Funcs {
		total += f.Asserts
		tagOnly += f.TagOnly
	}
	return total, tagOnly
}

func (p *pkgCount) perFunc() float64 {
	if len(p.Funcs) == 0 {
		return 0
	}
	t, _ := p.asserts()
	return float64(t) / float64(len(p.Funcs))
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	fl := flag.NewFlagSet("asserts", flag.ContinueOnError)
	fl.SetOutput(stderr)
	md := fl.Bool("md", false, "print the package table as Markdown")
	funcs := fl.Bool("funcs", false, "list every function of the packages named as arguments")
	require := fl.String("require", "", "pkg=N,...: fail when a package averages fewer than N assertions per function")
	root := fl.String("root", ".", "module root")
	if err := fl.Parse(args); err != nil {
		return 2
	}
	pkgs, err := countTree(*root)
	if err != nil {
		fmt.Fprintln(stderr, "asserts:", err)
		return 1
	}
	if *funcs {
		if fl.NArg() == 0 {
			fmt.Fprintln(stderr, "asserts: -funcs needs package directories (e.g. journal)")
			return 2
		}
		for _, name := range fl.Args() {
			p := find(pkgs, name)
			if p == nil {
				fmt.Fprintf(stderr, "asserts: no package %s\n", name)
				return 1
			}
			printFuncs(stdout, p)
		}
	} else {
		printTable(stdout, pkgs, *md)
	}
	if *require != "" {
		ok, err := checkRequire(stdout, pkgs, *require)
		if err != nil {
			fmt.Fprintln(stderr, "asserts:", err)
			return 2
		}
		if !ok {
			return 1
		}
	}
	return 0
}

func find(pkgs []*pkgCount, dir string) *pkgCount {
	dir = strings.TrimSuffix(strings.TrimPrefix(filepath.ToSlash(dir), "./"), "/")
	for _, p := range pkgs {
		if p.Dir == dir {
			return p
		}
	}
	return nil
}

// checkRequire checks "pkg=N,..." and prints a line per failing package.
func checkRequire(w io.Writer, pkgs []*pkgCount, spec string) (bool, error) {
	ok := true
	for _, item := range strings.Split(spec, ",") {
		name, val, found := strings.Cut(item, "=")
		if !found {
			return false, fmt.Errorf("-require %q: want pkg=N", item)
		}
		min, err := strconv.ParseFloat(val, 64)
		if err != nil {
			return false, fmt.Errorf("-require %q: %v", item, err)
		}
		p := find(pkgs, name)
		if p == nil {
			return false, fmt.Errorf("-require: no package %s", name)
		}
		if got := p.perFunc(); got < min {
			t, _ := p.asserts()
			fmt.Fprintf(w, "FAIL %s: %d assertions in %d functions = %.2f per function, below %g\n", p.Dir, t, len(p.Funcs), got, min)
			ok = false
		}
	}
	return ok, nil
}

func printTable(w io.Writer, pkgs []*pkgCount, md bool) {
	if md {
		fmt.Fprintln(w, "| package | lines | functions | assertions | of which tag-only | per function | per 1,000 lines |")
		fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|")
	} else {
		fmt.Fprintf(w, "%-28s %7s %6s %8s %8s %8s %9s\n", "package", "lines", "funcs", "asserts", "tag-only", "per-func", "per-kline")
	}
	var lines, nfuncs, total, tag int
	for _, p := range pkgs {
		t, g := p.asserts()
		lines, nfuncs, total, tag = lines+p.Lines, nfuncs+len(p.Funcs), total+t, tag+g
		row(w, md, p.Dir, p.Lines, len(p.Funcs), t, g)
	}
	row(w, md, "total", lines, nfuncs, total, tag)
}

func row(w io.Writer, md bool, name string, lines, funcs, total, tag int) {
	per, perK := 0.0, 0.0
	if funcs > 0 {
		per = float64(total) / float64(funcs)
	}
	if lines > 0 {
		perK = 1000 * float64(total) / float64(lines)
	}
	if md {
		fmt.Fprintf(w, "| %s | %d | %d | %d | %d | %.2f | %.1f |\n", name, lines, funcs, total, tag, per, perK)
		return
	}
	fmt.Fprintf(w, "%-28s %7d %6d %8d %8d %8.2f %9.1f\n", name, lines, funcs, total, tag, per, perK)
}

func printFuncs(w io.Writer, p *pkgCount) {
	t, g := p.asserts()
	fmt.Fprintf(w, "%s: %d functions, %d assertions (%d tag-only), %.2f per function\n", p.Dir, len(p.Funcs), t, g, p.perFunc())
	for _, f := range p.Funcs {
		fmt.Fprintf(w, "  %3d %3d  %s:%d %s\n", f.Asserts, f.TagOnly, f.File, f.Line, f.Name)
	}
}

// countTree counts every package directory under root, in path order.
// Directories named testdata or starting with "." or "_" are skipped.
func countTree(root string) ([]*pkgCount, error) {
	byDir := map[string]*pkgCount{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		name := d.Name()
		if d.IsDir() {
			if path != root && (name == "testdata" || strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_")) {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			return nil
		}
		rel, err := filepath.Rel(root, filepath.Dir(path))
		if err != nil {
			return err
		}
		rel = filepath.ToSlash(rel)
		p := byDir[rel]
		if p == nil {
			p = &pkgCount{Dir: rel}
			byDir[rel] = p
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return countFile(p, name, src)
	})
	if err != nil {
		return nil, err
	}
	pkgs := make([]*pkgCount, 0, len(byDir))
	for _, p := range byDir {
		sort.SliceStable(p.Funcs, func(a, b int) bool {
			if p.Funcs[a].File != p.Funcs[b].File {
				return p.Funcs[a].File < p.Funcs[b].File
			}
			return p.Funcs[a].Line < p.Funcs[b].Line
		})
		pkgs = append(pkgs, p)
	}
	sort.Slice(pkgs, func(a, b int) bool { return pkgs[a].Dir < pkgs[b].Dir })
	return pkgs, nil
}

// countFile adds the functions of one source file to p.
func countFile(p *pkgCount, name string, src []byte) error {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, name, src, parser.SkipObjectResolution)
	if err != nil {
		return err
	}
	p.Lines += strings.Count(string(src), "\n")
	inv := ""
	for _, imp := range f.Imports {
		if path, _ := strconv.Unquote(imp.Path.Value); path == invariantsPath {
			inv = "invariants"
			if imp.Name != nil {
				inv = imp.Name.Name
			}
		}
	}
	fmtName := ""
	for _, imp := range f.Imports {
		if path, _ := strconv.Unquote(imp.Path.Value); path == "fmt" {
			fmtName = "fmt"
			if imp.Name != nil {
				fmtName = imp.Name.Name
			}
		}
	}
	c := counter{inv: inv, fmt: fmtName}
	for _, decl := range f.Decls {
		fd, ok := decl.(*ast.FuncDecl)
		if !ok || fd.Body == nil {
			continue
		}
		fc := funcCount{Name: funcName(fd), File: name, Line: fset.Position(fd.Pos()).Line}
		gated := c.startsWithDisabledReturn(fd.Body)
		c.walk(fd.Body, gated, &fc)
		p.Funcs = append(p.Funcs, fc)
	}
	return nil
}

func funcName(fd *ast.FuncDecl) string {
	if fd.Recv == nil || len(fd.Recv.List) == 0 {
		return fd.Name.Name
	}
	t := fd.Recv.List[0].Type
	if s, ok := t.(*ast.StarExpr); ok {
		t = s.X
	}
	if ix, ok := t.(*ast.IndexExpr); ok {
		t = ix.X
	}
	if id, ok := t.(*ast.Ident); ok {
		return id.Name + "." + fd.Name.Name
	}
	return fd.Name.Name
}

// counter finds assertions in one file; inv and fmt are the names the file
// imports internal/invariants and fmt under ("" when it does not).
type counter struct {
	inv, fmt string
}

// walk counts the assertions under n into fc; gated says n runs only in
// invariants builds.
func (c *counter) walk(n ast.Node, gated bool, fc *funcCount) {
	ast.Inspect(n, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.IfStmt:
			if c.isEnabled(n.Cond) && !gated {
				if n.Init != nil {
					c.walk(n.Init, false, fc)
				}
				c.walk(n.Body, true, fc)
				if n.Else != nil {
					c.walk(n.Else, false, fc)
				}
				return false
			}
		case *ast.CallExpr:
			if c.isAssertion(n) {
				fc.Asserts++
				if gated {
					fc.TagOnly++
				}
			}
		}
		return true
	})
}

// isEnabled reports whether e is invariants.Enabled (possibly in a
// conjunction: `invariants.Enabled && x`).
func (c *counter) isEnabled(e ast.Expr) bool {
	if c.inv == "" {
		return false
	}
	switch e := e.(type) {
	case *ast.ParenExpr:
		return c.isEnabled(e.X)
	case *ast.BinaryExpr:
		return e.Op == token.LAND && (c.isEnabled(e.X) || c.isEnabled(e.Y))
	case *ast.SelectorExpr:
		id, ok := e.X.(*ast.Ident)
		return ok && id.Name == c.inv && e.Sel.Name == "Enabled"
	}
	return false
}

// startsWithDisabledReturn reports whether body opens with
// `if !invariants.Enabled { return ... }`.
func (c *counter) startsWithDisabledReturn(body *ast.BlockStmt) bool {
	if len(body.List) == 0 {
		return false
	}
	is, ok := body.List[0].(*ast.IfStmt)
	if !ok || is.Init != nil || is.Else != nil || len(is.Body.List) != 1 {
		return false
	}
	not, ok := is.Cond.(*ast.UnaryExpr)
	if !ok || not.Op != token.NOT || !c.isEnabled(not.X) {
		return false
	}
	_, ok = is.Body.List[0].(*ast.ReturnStmt)
	return ok
}

func (c *counter) isAssertion(call *ast.CallExpr) bool {
	switch fn := call.Fun.(type) {
	case *ast.SelectorExpr:
		id, ok := fn.X.(*ast.Ident)
		return ok && c.inv != "" && id.Name == c.inv && helpers[fn.Sel.Name]
	case *ast.Ident:
		return fn.Name == "panic" && len(call.Args) == 1 && c.isMessage(call.Args[0])
	}
	return false
}

// isMessage reports whether e is a panic message: a string literal, a
// concatenation starting with one, or fmt.Sprintf(...).
func (c *counter) isMessage(e ast.Expr) bool {
	switch e := e.(type) {
	case *ast.ParenExpr:
		return c.isMessage(e.X)
	case *ast.BasicLit:
		return e.Kind == token.STRING
	case *ast.BinaryExpr:
		return e.Op == token.ADD && c.isMessage(e.X)
	case *ast.CallExpr:
		sel, ok := e.Fun.(*ast.SelectorExpr)
		if !ok {
			return false
		}
		id, ok := sel.X.(*ast.Ident)
		return ok && c.fmt != "" && id.Name == c.fmt && sel.Sel.Name == "Sprintf"
	}
	return false
}
