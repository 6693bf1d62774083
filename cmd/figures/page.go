package main

import (
	_ "embed"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"text/template"
)

// FiguresPage is the one page the command writes, relative to the module
// root. All of it is generated: the prose comes from pageTemplate, the tables
// from this run's measurements or, for a table not measured again, from the
// page as it was. No other file of the repository holds a figures block
// (TestOnlyTheFiguresPageHoldsGeneratedBlocks), so `make figures` never
// touches hand-written prose.
const FiguresPage = "docs/figures.md"

//go:embed page.md.tmpl
var pageTemplateText string

var pageTemplate = template.Must(template.New("figures").Option("missingkey=error").Parse(pageTemplateText))

// PageTables are the generated parts of the page: each is the text between
// its markers, without them.
type PageTables struct {
	Benchmarks, ExplorerCI, ExplorerDeep string
}

// explorerMarkers are the markers around an explorer table ("ci" or "deep").
func explorerMarkers(mode string) (begin, end string) {
	return "<!-- explorer:" + mode + ":begin -->", "<!-- explorer:" + mode + ":end -->"
}

// RenderPage is the whole page, markers included.
func RenderPage(t PageTables) (string, error) {
	ciBegin, ciEnd := explorerMarkers("ci")
	deepBegin, deepEnd := explorerMarkers("deep")
	wrap := func(begin, content, end string) string {
		return begin + "\n" + strings.TrimRight(content, "\n") + "\n" + end
	}
	var sb strings.Builder
	err := pageTemplate.Execute(&sb, map[string]string{
		"Benchmarks":   wrap(beginMarker+" -->", t.Benchmarks, endMarker),
		"ExplorerCI":   wrap(ciBegin, t.ExplorerCI, ciEnd),
		"ExplorerDeep": wrap(deepBegin, t.ExplorerDeep, deepEnd),
	})
	return sb.String(), err
}

// ParsePage returns the page's tables and its benchmark block (for the rows
// carried over and the benchmarks it records). A page without a block yields
// empty tables, so the first run writes them all.
func ParsePage(text string) (PageTables, []Block, error) {
	var t PageTables
	blocks, err := FindBlocks(FiguresPage, text)
	if err != nil {
		return t, nil, err
	}
	if len(blocks) > 1 {
		return t, nil, fmt.Errorf("%s has %d figures blocks, want one", FiguresPage, len(blocks))
	}
	lines := strings.Split(text, "\n")
	if len(blocks) == 1 {
		t.Benchmarks = strings.Join(lines[blocks[0].Begin+1:blocks[0].End], "\n")
	}
	for mode, dst := range map[string]*string{"ci": &t.ExplorerCI, "deep": &t.ExplorerDeep} {
		begin, end := explorerMarkers(mode)
		i, j := strings.Index(text, begin), strings.Index(text, end)
		switch {
		case i < 0 && j < 0:
		case i < 0 || j < i:
			return t, nil, fmt.Errorf("%s: %s and %s do not enclose a table", FiguresPage, begin, end)
		default:
			*dst = strings.Trim(text[i+len(begin):j], "\n")
		}
	}
	return t, blocks, nil
}

// readPage reads the figures page under root; a missing page is an empty one.
func readPage(root string) (string, error) {
	b, err := os.ReadFile(filepath.Join(root, filepath.FromSlash(FiguresPage)))
	if os.IsNotExist(err) {
		return "", nil
	}
	return string(b), err
}

func writePage(root, text string) error {
	return os.WriteFile(filepath.Join(root, filepath.FromSlash(FiguresPage)), []byte(text), 0o644)
}
