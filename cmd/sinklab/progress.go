package main

import (
	"fmt"

	"time"

	"github.com/schollz/progressbar/v3"
	"go.uber.org/zap"
)

// progress reports the advance of long work: a progress bar on stderr when it
// is a terminal, otherwise a plain log line at most every interval.
type progress struct {
	bar      *progressbar.ProgressBar
	log      *zap.Logger
	what     string
	total    int64
	interval time.Duration
	last     time.Time
	start    time.Time
}

// newProgress starts a progress display for total units of work.
func (a *app) newProgress(what string, total int64) *progress {
	p := &progress{log: a.log, what: what, total: total, interval: 10 * time.Second, start: time.Now(), last: time.Now()}
	if stderrIsTerminal() && !a.opts.Quiet {
		p.bar = progressbar.NewOptions64(total,
			progressbar.OptionSetWriter(a.stderr),
			progressbar.OptionSetDescription(what),
			progressbar.OptionShowCount(),
			progressbar.OptionSetPredictTime(true),
			progressbar.OptionThrottle(100*time.Millisecond),
			progressbar.OptionSetWidth(30),
			progressbar.OptionOnCompletion(func() { fmt.Fprintln(a.stderr) }),
		)
	}
	return p
}

// Set moves the display to done units, with an optional status text.
func (p *progress) Set(done int64, status string) {
	if p.bar != nil {
		if status != "" {
			p.bar.Describe(p.what + " " + status)
		}
		_ = p.bar.Set64(done)
		return
	}
	if now := time.Now(); now.Sub(p.last) >= p.interval {
		p.last = now
		el := now.Sub(p.start)
		eta := time.Duration(0)
		if done > 0 {
			eta = time.Duration(float64(el) * float64(p.total-done) / float64(done))
		}
		p.log.Info(p.what, zap.Int64("done", done), zap.Int64("total", p.total),
			zap.String("status", status), zap.Duration("eta", eta.Round(time.Second)))
	}
}

// Finish closes the display.
func (p *progress) Finish() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}
