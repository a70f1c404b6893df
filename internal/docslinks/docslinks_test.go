// Package docslinks holds a test that keeps the documentation's references
// resolvable: relative links of README.md and docs/*.md, and the
// `docs/<name>.md, "Section"` references written in Go comments and docs.
package docslinks

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// moduleRoot is the nearest directory above the test's with a go.mod.
func moduleRoot(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test's directory")
		}
		dir = parent
	}
}

var (
	mdLink   = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	heading  = regexp.MustCompile(`(?m)^#{1,6}\s+(.+?)\s*#*\s*$`)
	fence    = regexp.MustCompile("(?ms)^```.*?^```")
	docRef   = regexp.MustCompile(`\bdocs/([a-z0-9-]+\.md)`)
	sectRef  = regexp.MustCompile(`\bdocs/([a-z0-9-]+\.md),? \(?"([^"]+)"`)
	slugDrop = regexp.MustCompile(`[^\p{L}\p{N} _-]`)
)

// slug is GitHub's anchor for a heading: lower case, punctuation dropped,
// spaces as hyphens.
func slug(h string) string {
	h = strings.ToLower(strings.ReplaceAll(h, "`", ""))
	return strings.ReplaceAll(slugDrop.ReplaceAllString(h, ""), " ", "-")
}

// headings returns the text of every heading of a Markdown file outside
// code fences, without backticks.
func headings(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var hs []string
	for _, m := range heading.FindAllStringSubmatch(fence.ReplaceAllString(string(b), ""), -1) {
		hs = append(hs, strings.ReplaceAll(m[1], "`", ""))
	}
	return hs
}

// markdownFiles returns README.md and docs/*.md.
func markdownFiles(t *testing.T, root string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	return append([]string{filepath.Join(root, "README.md")}, files...)
}

// TestRelativeLinks fails on a relative link of README.md or docs/*.md
// whose file does not exist or whose #anchor names no heading of it.
func TestRelativeLinks(t *testing.T) {
	root := moduleRoot(t)
	for _, file := range markdownFiles(t, root) {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		text := fence.ReplaceAllString(string(b), "")
		rel, _ := filepath.Rel(root, file)
		for _, m := range mdLink.FindAllStringSubmatch(text, -1) {
			target := m[1]
			if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
				continue
			}
			path, anchor, _ := strings.Cut(target, "#")
			dest := file
			if path != "" {
				dest = filepath.Join(filepath.Dir(file), path)
				if _, err := os.Stat(dest); err != nil {
					t.Errorf("%s: link %q: %v", rel, target, err)
					continue
				}
			}
			if anchor == "" {
				continue
			}
			found := false
			for _, h := range headings(t, dest) {
				if slug(h) == anchor {
					found = true
				}
			}
			if !found {
				t.Errorf("%s: link %q: no heading with anchor %q", rel, target, anchor)
			}
		}
	}
}

// TestSectionReferences fails when a Go file or a document names a file of
// docs/ that does not exist, or writes docs/<name>.md, "Section" (on one
// line) for a section that file does not have: a heading must start with
// the quoted text.
func TestSectionReferences(t *testing.T) {
	root := moduleRoot(t)
	var files []string
	err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == ".git" || d.Name() == "testdata") {
			return filepath.SkipDir
		}
		if !d.IsDir() && (strings.HasSuffix(path, ".go") || strings.HasSuffix(path, ".md")) {
			files = append(files, path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	refs := 0
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, file)
		for i, line := range strings.Split(string(b), "\n") {
			for _, m := range docRef.FindAllStringSubmatch(line, -1) {
				if _, err := os.Stat(filepath.Join(root, "docs", m[1])); err != nil {
					t.Errorf("%s:%d: docs/%s does not exist", rel, i+1, m[1])
				}
			}
			for _, m := range sectRef.FindAllStringSubmatch(line, -1) {
				refs++
				doc := filepath.Join(root, "docs", m[1])
				if _, err := os.Stat(doc); err != nil {
					continue // reported above
				}
				found := false
				for _, h := range headings(t, doc) {
					if strings.HasPrefix(h, m[2]) {
						found = true
					}
				}
				if !found {
					t.Errorf("%s:%d: docs/%s has no section %q", rel, i+1, m[1], m[2])
				}
			}
		}
	}
	if refs == 0 {
		t.Fatal("no section reference found: the pattern no longer matches how the code cites docs")
	}
}
