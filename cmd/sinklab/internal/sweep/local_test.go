package sweep

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// The test binary doubles as a fake `sinklab sweep run-cell DIR --index i`
// when fakeChildEnv is set: it records when it ran and with which
// GOMAXPROCS, then marks the cell done, or fails when its index is in
// fakeFailEnv, or exits 0 without marking it when its index is in fakeLazyEnv.
const (
	fakeChildEnv = "SWEEP_TEST_FAKE_CHILD"
	fakeFailEnv  = "SWEEP_TEST_FAIL"
	fakeLazyEnv  = "SWEEP_TEST_LAZY"
)

func TestMain(m *testing.M) {
	if os.Getenv(fakeChildEnv) == "1" {
		os.Exit(fakeChild(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func fakeChild(args []string) int {
	if len(args) < 5 || args[0] != "sweep" || args[1] != "run-cell" || args[3] != "--index" {
		fmt.Fprintf(os.Stderr, "fake child: bad arguments %q\n", args)
		return 2
	}
	dir := args[2]
	idx, _ := strconv.Atoi(args[4])
	m, err := ReadManifest(dir)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	c, err := m.Cell(idx)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	start := time.Now()
	fmt.Println("training", c.ID) // stdout goes to the log only
	time.Sleep(150 * time.Millisecond)
	end := time.Now()
	trace := fmt.Sprintf("%d %d %s %s\n", start.UnixNano(), end.UnixNano(), os.Getenv("GOMAXPROCS"), strings.Join(args[5:], " "))
	if err := os.WriteFile(filepath.Join(dir, "trace-"+c.ID), []byte(trace), 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	if strings.Contains(","+os.Getenv(fakeFailEnv)+",", ","+args[4]+",") {
		for i := 0; i < 40; i++ {
			fmt.Fprintf(os.Stderr, "noise line %d\n", i)
		}
		fmt.Fprintf(os.Stderr, "cell %s: loss is NaN\n", c.ID)
		_ = MarkFailed(dir, c, start, fmt.Errorf("loss is NaN"))
		return 1
	}
	if strings.Contains(","+os.Getenv(fakeLazyEnv)+",", ","+args[4]+",") {
		return 0
	}
	if err := os.MkdirAll(CellDir(dir, c), 0o755); err != nil {
		return 1
	}
	if err := MarkDone(dir, c, start); err != nil {
		return 1
	}
	return 0
}

func TestRunLocalPool(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := mustParse(t, "grid:\n  model.n_heads: [1, 2, 4]\nseeds: [1, 2]\n") // 6 cells
	if _, err := Prepare(dir, p, "g.yaml"); err != nil {
		t.Fatal(err)
	}
	t.Setenv(fakeChildEnv, "1")
	t.Setenv(fakeFailEnv, "1,4")
	t.Setenv(fakeLazyEnv, "5")
	var mu sync.Mutex
	var events []Event
	maxRunning := 0
	res := RunLocal(context.Background(), dir, p.Cells, LocalOptions{Exe: exe, Args: []string{"-q"}, Jobs: 2,
		OnEvent: func(e Event) {
			mu.Lock()
			defer mu.Unlock()
			events = append(events, e)
			maxRunning = max(maxRunning, e.Running)
		}})
	if len(res) != 6 {
		t.Fatalf("%d results, want 6", len(res))
	}
	for i, r := range res {
		failed := i == 1 || i == 4 || i == 5
		if (r.Err != nil) != failed {
			t.Errorf("cell %d: err %v, want failed=%v", i, r.Err, failed)
		}
		if r.Cell.Index != i || r.Log != filepath.Join(dir, LogsDir, p.Cells[i].ID+".log") {
			t.Errorf("cell %d: result %+v", i, r)
		}
	}
	// A failed cell's stderr tail is kept, bounded, and ends with its last line.
	tail := res[1].Stderr
	if lines := strings.Split(tail, "\n"); len(lines) != 15 || !strings.HasSuffix(tail, "loss is NaN") || strings.Contains(tail, "noise line 10\n") {
		t.Errorf("stderr tail (%d lines):\n%s", len(lines), tail)
	}
	if res[5].Err == nil || !strings.Contains(res[5].Err.Error(), "status 0 but the cell is") {
		t.Errorf("lazy child: %v", res[5].Err)
	}
	// The log holds stdout and stderr.
	if b, _ := os.ReadFile(res[1].Log); !strings.Contains(string(b), "training "+p.Cells[1].ID) || !strings.Contains(string(b), "noise line 0") {
		t.Errorf("log of cell 1:\n%s", b)
	}
	// Events: one start and one end per cell, counts consistent, never more than 2 at once.
	if len(events) != 12 || maxRunning != 2 {
		t.Errorf("%d events, at most %d running; want 12 and 2", len(events), maxRunning)
	}
	last := events[len(events)-1]
	if last.Done != 3 || last.Failed != 3 || last.Running != 0 || last.Total != 6 {
		t.Errorf("last event counts %+v", last)
	}
	// The children ran at most 2 at a time (from their own clocks), each with
	// GOMAXPROCS = cores / 2 and the extra argument.
	type span struct{ a, b int64 }
	var spans []span
	for _, c := range p.Cells {
		b, err := os.ReadFile(filepath.Join(dir, "trace-"+c.ID))
		if err != nil {
			t.Fatal(err)
		}
		f := strings.Fields(string(b))
		a, _ := strconv.ParseInt(f[0], 10, 64)
		e, _ := strconv.ParseInt(f[1], 10, 64)
		spans = append(spans, span{a, e})
		if f[2] != strconv.Itoa(GOMAXPROCS(2)) || len(f) < 4 || f[3] != "-q" {
			t.Errorf("cell %s: trace %q", c.ID, b)
		}
	}
	for _, s := range spans {
		n := 0
		for _, o := range spans {
			if o.a <= s.a && s.a < o.b {
				n++
			}
		}
		if n > 2 {
			t.Errorf("%d children ran at once", n)
		}
	}
}

func TestRunLocalStopsOnCancel(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	p := mustParse(t, "grid:\n  model.n_heads: [1, 2, 4, 8]\n")
	if _, err := Prepare(dir, p, "g.yaml"); err != nil {
		t.Fatal(err)
	}
	t.Setenv(fakeChildEnv, "1")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var mu sync.Mutex
	started := 0
	res := RunLocal(ctx, dir, p.Cells, LocalOptions{Exe: exe, Jobs: 1, OnEvent: func(e Event) {
		mu.Lock()
		defer mu.Unlock()
		if e.Result == nil {
			started++
			time.AfterFunc(50*time.Millisecond, cancel) // cancel while the first child runs
		}
	}})
	if started != 1 || len(res) != 1 || res[0].Err == nil {
		t.Fatalf("started %d, results %+v; want only the first cell, stopped", started, res)
	}
	// The child was stopped before it got to write its trace (it sleeps 150 ms first).
	if _, err := os.Stat(filepath.Join(dir, "trace-"+p.Cells[0].ID)); err == nil {
		t.Fatal("the first child ran to the end")
	}
}

func TestGOMAXPROCS(t *testing.T) {
	if GOMAXPROCS(1<<20) != 1 || GOMAXPROCS(0) < 1 || GOMAXPROCS(1) < GOMAXPROCS(2) {
		t.Fatalf("GOMAXPROCS: %d %d %d %d", GOMAXPROCS(1<<20), GOMAXPROCS(0), GOMAXPROCS(1), GOMAXPROCS(2))
	}
}

func TestTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	var b strings.Builder
	for i := 0; i < 10000; i++ {
		fmt.Fprintf(&b, "line %d\n\n", i)
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := Tail(path, 3); got != "line 9997\nline 9998\nline 9999" {
		t.Fatalf("Tail = %q", got)
	}
	if Tail(filepath.Join(t.TempDir(), "none"), 3) != "" {
		t.Fatal("Tail of a missing file")
	}
}
