package report

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// chromiumPath finds a Chromium binary: $SINKLAB_CHROMIUM, /usr/bin/chromium,
// or chromium / chromium-browser / google-chrome on PATH.
func chromiumPath() string {
	if p := os.Getenv("SINKLAB_CHROMIUM"); p != "" {
		return p
	}
	if _, err := os.Stat("/usr/bin/chromium"); err == nil {
		return "/usr/bin/chromium"
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "headless-shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestReportInChromium trains a short real run (with attention snapshots),
// reports it beside the fixed theory run, opens the page in headless
// Chromium and checks that it loads without a console error or a network
// request, that every chart is in the DOM, and writes a screenshot. It skips
// when no Chromium is installed, unless SINKLAB_REQUIRE_CHROMIUM is set (CI).
func TestReportInChromium(t *testing.T) {
	bin := chromiumPath()
	if bin == "" && os.Getenv("SINKLAB_REQUIRE_CHROMIUM") != "" {
		t.Fatal("SINKLAB_REQUIRE_CHROMIUM is set but no Chromium binary was found (/usr/bin/chromium, PATH, $SINKLAB_CHROMIUM)")
	}
	if bin == "" {
		t.Skip("no Chromium binary (apt-get install -y --no-install-recommends chromium, or set SINKLAB_CHROMIUM): " +
			"the report is not checked in a browser")
	}
	tmp := t.TempDir()
	runDir := filepath.Join(tmp, "tiny")
	cfg := trainTiny(t, runDir, "tiny", 30, nil)
	rep, err := Generate([]string{runDir, theoryRun}, &Options{Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	page := filepath.Join(tmp, "report.html")
	if err := rep.WriteHTMLFile(page); err != nil {
		t.Fatal(err)
	}
	L, H := cfg.Model.Layers, cfg.Model.Heads
	lines, small, heat := rep.NumCharts()
	if small != 3*L*H || heat != 3*L*H { // snapshots at 0, 10, 20, 30: first, middle, last
		t.Fatalf("report has %d small multiples and %d heatmaps, want %d each", small, heat, 3*L*H)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(bin), chromedp.NoSandbox,
		chromedp.DisableGPU, chromedp.Flag("disable-quic", true), chromedp.Flag("disable-component-update", true),
		chromedp.UserDataDir(filepath.Join(tmp, "profile")), chromedp.WindowSize(1280, 1000))
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	defer acancel()
	bctx, bcancel := chromedp.NewContext(actx)
	defer bcancel()

	var mu sync.Mutex
	var problems []string
	if err := chromedp.Listen(bctx, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch e := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if e.Type == runtime.ConsoleAPICalledTypeError || e.Type == runtime.ConsoleAPICalledTypeWarning || e.Type == runtime.ConsoleAPICalledTypeAssert {
				problems = append(problems, fmt.Sprintf("console.%s", e.Type))
			}
		case *runtime.EventExceptionThrown:
			problems = append(problems, "exception: "+e.ExceptionDetails.Text)
		case *log.EventEntryAdded:
			if e.Entry.Level == log.EntryLevelError || e.Entry.Level == log.EntryLevelWarning {
				problems = append(problems, fmt.Sprintf("log %s: %s", e.Entry.Level, e.Entry.Text))
			}
		}
	}); err != nil {
		t.Fatalf("start Chromium (%s): %v", bin, err)
	}
	if err := chromedp.Do(bctx, chromedp.Navigate("file://"+page)); err != nil {
		t.Fatalf("load the report: %v", err)
	}
	count := func(sel string) int {
		t.Helper()
		n, err := chromedp.Run(bctx, chromedp.Evaluate[int](fmt.Sprintf("document.querySelectorAll(%q).length", sel)))
		if err != nil {
			t.Fatalf("count %s: %v", sel, err)
		}
		return n
	}
	for _, tc := range []struct {
		sel  string
		want int
	}{
		{"svg.chart:not(.small)", lines},
		{"svg.chart.small", 3 * L * H},
		{"svg.heatmap", 3 * L * H},
		{"#loss", 1}, {"#val-accuracy", 1}, {"#sink-rate", 1},
		{"#grid-entropy svg.chart", L * H}, {"#grid-first-token-mass svg.chart", L * H}, {"#grid-sink-score svg.chart", L * H},
		{"#value-norm", 1}, {"#resid-peak", 1}, {"#massive-activation", 1},
		{"#attn-r0-s0 svg.heatmap", L * H}, {"#attn-r0-s30 svg.heatmap", L * H},
		{"#theory-logistic-softmax-weights", 1}, {"#theory-logistic-softmax-u", 1},
		{"#theory-logistic-softmax-entropy", 1},
		{"#summary-train tr", 11}, {"#summary-theory tr", 2},
		{"polyline.series", -1},
		{"script", 0},
	} {
		got := count(tc.sel)
		if (tc.want >= 0 && got != tc.want) || (tc.want < 0 && got == 0) {
			t.Errorf("%s: %d elements, want %d", tc.sel, got, tc.want)
		}
	}
	// every chart is drawn with a size, and nothing was fetched
	zero, err := chromedp.Run(bctx, chromedp.Evaluate[int](
		`[...document.querySelectorAll('svg')].filter(s => s.getBoundingClientRect().width < 50 || s.getBoundingClientRect().height < 50).length`))
	if err != nil || zero != 0 {
		t.Errorf("%d svg elements drawn smaller than 50 px (%v)", zero, err)
	}
	res, err := chromedp.Run(bctx, chromedp.Evaluate[int](`performance.getEntriesByType('resource').length`))
	if err != nil || res != 0 {
		t.Errorf("the page loaded %d resources (%v), want none", res, err)
	}
	shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot is not a PNG: %v", err)
	}
	if b := img.Bounds(); b.Dx() < 1000 || b.Dy() < 2000 {
		t.Errorf("screenshot %v: the page is too small", b)
	}
	out := filepath.Join(t.TempDir(), "report.png")
	if err := os.WriteFile(out, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot: %s (%d bytes)", out, len(shot))
	mu.Lock()
	defer mu.Unlock()
	if len(problems) > 0 {
		t.Errorf("console problems:\n%s", strings.Join(problems, "\n"))
	}
}
