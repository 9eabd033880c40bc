// Package browser drives Debian's headless Chromium from tests (chromedp).
package browser

import (
	"context"
	"os"
	"testing"

	"github.com/chromedp/chromedp"
)

// ExecPath is Debian's chromium-headless-shell (the one in /usr/bin is a
// wrapper script); `make browser` installs it.
const ExecPath = "/usr/lib/chromium/chromium-headless-shell"

// Open starts a browser for the test and stops it at the end.
func Open(t testing.TB) context.Context {
	t.Helper()
	if _, err := os.Stat(ExecPath); err != nil {
		t.Fatalf("no headless Chromium at %s: run `make browser` (Debian's chromium-headless-shell)", ExecPath)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(ExecPath), chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1400, 900))
	allocator, stopAllocator := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocator)
	t.Cleanup(func() { cancel(); stopAllocator() })
	return ctx
}

// Cell is one matrix cell as the page draws it.
type Cell struct {
	From  string `json:"from"`
	To    string `json:"to"`
	State string `json:"state"`
}

// MatrixCells reads the web view's matrix from the page.
func MatrixCells(ctx context.Context) ([]Cell, error) {
	return chromedp.Run(ctx, chromedp.Evaluate[[]Cell](
		`Array.from(document.querySelectorAll("#matrix .cell")).map(c => ({from: c.dataset.from, to: c.dataset.to, state: c.dataset.state}))`))
}

// Groups reads the groups list: "namespace/name" of each row.
func Groups(ctx context.Context) ([]string, error) {
	return chromedp.Run(ctx, chromedp.Evaluate[[]string](
		`Array.from(document.querySelectorAll("#groups tbody tr")).map(r => r.dataset.group)`))
}

// Column is the states of the cells pinging target (its own cell left out).
func Column(cells []Cell, target string) []string {
	var states []string
	for _, c := range cells {
		if c.To == target && c.From != target {
			states = append(states, c.State)
		}
	}
	return states
}
