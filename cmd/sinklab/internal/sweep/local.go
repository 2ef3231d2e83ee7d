package sweep

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// LocalOptions configure RunLocal.
type LocalOptions struct {
	// Exe is the sinklab binary each cell runs as
	// `Exe sweep run-cell DIR --index i Args...`.
	Exe string
	// Args are appended to every child's command line (e.g. -q).
	Args []string
	// Jobs is the number of cells run at once; < 1 means runtime.NumCPU().
	Jobs int
	// Env is added to every child's environment (after os.Environ and
	// GOMAXPROCS, so it can override both).
	Env []string
	// OnEvent, when set, is called as cells start and end; calls are
	// serialized.
	OnEvent func(Event)
	// TailLines bounds the lines of a failed child's stderr kept in
	// Result.Stderr; 0 means 15.
	TailLines int
}

// Event reports a cell starting (Result nil) or ending, with the pool's
// counts after it.
type Event struct {
	Cell                  Cell
	Result                *Result
	Running, Done, Failed int
	Total                 int
}

// Result is how one cell's child process ended.
type Result struct {
	Cell     Cell
	Err      error  // nil when the cell is done
	Stderr   string // the last lines of the child's stderr when it failed
	Log      string // the file holding the child's stdout and stderr
	Duration time.Duration
}

// GOMAXPROCS is the value each of jobs concurrent children gets: the cores
// divided among them, at least 1.
func GOMAXPROCS(jobs int) int {
	if jobs < 1 {
		jobs = 1
	}
	return max(1, runtime.NumCPU()/jobs)
}

// RunLocal runs cells as child processes on a pool of o.Jobs workers. Each
// child writes its run folder DIR/<id>/ and its output to DIR/logs/<id>.log;
// a failing cell does not stop the others. It returns one result per cell
// started, in the order of cells. When ctx is cancelled the running children
// get SIGTERM (and SIGKILL 30 s later) and no new cell starts.
func RunLocal(ctx context.Context, dir string, cells []Cell, o LocalOptions) []Result {
	jobs := o.Jobs
	if jobs < 1 {
		jobs = runtime.NumCPU()
	}
	tail := o.TailLines
	if tail == 0 {
		tail = 15
	}
	env := append(os.Environ(), "GOMAXPROCS="+strconv.Itoa(GOMAXPROCS(jobs)))
	env = append(env, o.Env...)

	results := make([]*Result, len(cells))
	var mu sync.Mutex
	var running, done, failed int
	emit := func(c Cell, r *Result) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case r == nil:
			running++
		case r.Err == nil:
			running--
			done++
		default:
			running--
			failed++
		}
		if o.OnEvent != nil {
			o.OnEvent(Event{Cell: c, Result: r, Running: running, Done: done, Failed: failed, Total: len(cells)})
		}
	}

	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(jobs, len(cells)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				if ctx.Err() != nil {
					continue // cancelled while the cell was handed out: do not start it
				}
				emit(cells[i], nil)
				r := runChild(ctx, dir, cells[i], o, env, tail)
				results[i] = r
				emit(cells[i], r)
			}
		}()
	}
feed:
	for i := range cells {
		if ctx.Err() != nil {
			break
		}
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	out := make([]Result, 0, len(cells))
	for _, r := range results {
		if r != nil {
			out = append(out, *r)
		}
	}
	return out
}

// runChild runs one cell's child process.
func runChild(ctx context.Context, dir string, c Cell, o LocalOptions, env []string, tailLines int) *Result {
	start := time.Now()
	r := &Result{Cell: c, Log: filepath.Join(dir, LogsDir, c.ID+".log")}
	defer func() { r.Duration = time.Since(start) }()
	if err := ctx.Err(); err != nil {
		r.Err = err
		return r
	}
	logf, err := os.Create(r.Log)
	if err != nil {
		r.Err = fmt.Errorf("sweep: cell log: %w", err)
		return r
	}
	defer logf.Close()
	args := append([]string{"sweep", "run-cell", dir, "--index", strconv.Itoa(c.Index)}, o.Args...)
	cmd := exec.CommandContext(ctx, o.Exe, args...)
	cmd.Env = env
	tb := &tailBuffer{max: 16 << 10}
	cmd.Stdout = logf
	cmd.Stderr = io.MultiWriter(logf, tb)
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	err = cmd.Run()
	if err == nil {
		if st, _ := StateOf(dir, c); st != StateDone {
			err = fmt.Errorf("the child exited with status 0 but the cell is %s", st)
		}
	}
	if err != nil {
		r.Err = err
		r.Stderr = lastLines(tb.String(), tailLines)
	}
	return r
}

// tailBuffer keeps the last max bytes written to it.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (t *tailBuffer) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if over := len(t.buf) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	return len(p), nil
}

func (t *tailBuffer) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

// lastLines returns the last n non-empty lines of s.
func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	var keep []string
	for i := len(lines) - 1; i >= 0 && len(keep) < n; i-- {
		if strings.TrimSpace(lines[i]) != "" {
			keep = append(keep, lines[i])
		}
	}
	for i, j := 0, len(keep)-1; i < j; i, j = i+1, j-1 {
		keep[i], keep[j] = keep[j], keep[i]
	}
	return strings.Join(keep, "\n")
}

// Tail returns the last n non-empty lines of a file ("" if it cannot be read),
// reading at most its last 64 KiB.
func Tail(path string, n int) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	const most = 64 << 10
	if st, err := f.Stat(); err == nil && st.Size() > most {
		if _, err := f.Seek(st.Size()-most, io.SeekStart); err != nil {
			return ""
		}
	}
	var b bytes.Buffer
	if _, err := io.Copy(&b, f); err != nil {
		return ""
	}
	return lastLines(b.String(), n)
}
