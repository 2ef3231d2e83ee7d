package transformer

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sinklab/sinklab/data"
	"github.com/sinklab/sinklab/transformer/capture"
)

// clockRunner is a Runner whose every step advances a fake clock by a fixed
// duration; Run calls nothing else on it when probes and evaluation are off.
type clockRunner struct {
	Runner // nil: any method Run should not call panics
	cfg    Config
	step   int
	now    time.Time
	tick   time.Duration
}

func (r *clockRunner) Config() Config                     { return r.cfg }
func (r *clockRunner) StepCount() int                     { return r.step }
func (r *clockRunner) HasEval() bool                      { return false }
func (r *clockRunner) GroupLoss() map[string]float64      { return nil }
func (r *clockRunner) Capture() (*capture.Capture, error) { panic("probes are off") }
func (r *clockRunner) Step() (StepStats, error) {
	r.step++
	r.now = r.now.Add(r.tick)
	return StepStats{Step: r.step}, nil
}

// hookEvents runs Run on a clockRunner and lists the Flush (F) and
// Checkpoint (C) calls in order, with their steps.
func hookEvents(t *testing.T, steps int, tick time.Duration, mod func(c *Config)) string {
	t.Helper()
	cfg, err := DefaultConfig(data.TaskInduction)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Train.Steps, cfg.Probe.Every = steps, 0
	mod(&cfg)
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	r := &clockRunner{cfg: cfg, now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), tick: tick}
	var ev []string
	h := Hooks{
		Flush:      func(step int) error { ev = append(ev, fmt.Sprintf("F%d", step)); return nil },
		Checkpoint: func(step int) error { ev = append(ev, fmt.Sprintf("C%d", step)); return nil },
		Now:        func() time.Time { return r.now },
	}
	if err := Run(context.Background(), r, h); err != nil {
		t.Fatal(err)
	}
	return strings.Join(ev, " ")
}

// TestRunFlushesAndCheckpointsByWallTime: with a fake clock at 250 ms per
// step, log.flush_seconds=1 flushes every 4 steps, checkpoint.every_seconds
// 2.5 checkpoints every 10 steps (flushing first and restarting the flush
// clock), step-based checkpoints still happen, and the last step flushes and
// checkpoints.
func TestRunFlushesAndCheckpointsByWallTime(t *testing.T) {
	const tick = 250 * time.Millisecond
	for _, tc := range []struct {
		name  string
		steps int
		mod   func(c *Config)
		want  string
	}{
		{"time only", 22, func(c *Config) { c.Log.FlushSeconds, c.Checkpoint.EverySeconds = 1, 2.5 },
			"F4 F8 F10 C10 F14 F18 F20 C20 F22 C22"},
		{"time checkpoints off", 9, func(c *Config) { c.Log.FlushSeconds, c.Checkpoint.EverySeconds = 1, 0 },
			"F4 F8 F9 C9"},
		{"steps and time", 12, func(c *Config) {
			c.Log.FlushSeconds, c.Checkpoint.EverySeconds, c.Checkpoint.Every = 0.75, 0, 5
		}, "F3 F5 C5 F8 F10 C10 F12 C12"},
		{"defaults: nothing before the end of a short run", 30, func(c *Config) {}, "F30 C30"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := hookEvents(t, tc.steps, tick, tc.mod); got != tc.want {
				t.Fatalf("hook calls\ngot:  %s\nwant: %s", got, tc.want)
			}
		})
	}
}

// TestRunDefaultsFlushAndCheckpoint: the default config flushes every 60 s
// and checkpoints every 300 s of wall time, so a long default run killed at
// any point loses at most a minute of logs and five minutes of training.
func TestRunDefaultsFlushAndCheckpoint(t *testing.T) {
	got := hookEvents(t, 700, time.Second, func(c *Config) {})
	var flushes, ckpts []string
	for _, e := range strings.Fields(got) {
		if e[0] == 'F' {
			flushes = append(flushes, e[1:])
		} else {
			ckpts = append(ckpts, e[1:])
		}
	}
	if want := "60 120 180 240 300 360 420 480 540 600 660 700"; strings.Join(flushes, " ") != want {
		t.Errorf("flush steps\ngot:  %v\nwant: %s", flushes, want)
	}
	if want := "300 600 700"; strings.Join(ckpts, " ") != want {
		t.Errorf("checkpoint steps\ngot:  %v\nwant: %s", ckpts, want)
	}
}
