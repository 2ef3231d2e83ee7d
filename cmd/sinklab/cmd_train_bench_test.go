package main

import (
	"regexp"
	"strconv"
	"testing"
)

// BenchmarkTrainText runs `sinklab train --task text --steps 200` (the
// default text run, shortened: evaluation and probes keep their default
// cadence, 2 evaluations and 3 probe steps, so they cost the same share as in
// the full 1000 steps, a little more for the probe at step 0) and reports the
// run's end-to-end tokens/s beside the tokens/s of its optimizer steps alone,
// and overhead-% = the share of the wall time spent outside the steps
// (evaluation, probes, logging). Both come from one run, so machine load
// skews them alike. The same numbers end every `sinklab train` run:
//
//	go test ./cmd/sinklab -run '^$' -bench TrainText -benchtime 1x
func BenchmarkTrainText(b *testing.B) {
	runLine := regexp.MustCompile(`steps in \S+ \(([0-9.]+) tokens/s\)`)
	stepLine := regexp.MustCompile(`steps alone: ([0-9.]+) tokens/s; evaluation, probes and logging took ([0-9.]+)%`)
	for i := 0; i < b.N; i++ {
		stdout, stderr, code := runCLI(b, "train", "--task", "text", "--steps", "200", "--out", b.TempDir(), "--run-id", "r", "-q")
		if code != 0 {
			b.Fatalf("exit %d: %s", code, stderr)
		}
		r, s := runLine.FindStringSubmatch(stdout), stepLine.FindStringSubmatch(stdout)
		if r == nil || s == nil {
			b.Fatalf("no throughput lines in:\n%s", stdout)
		}
		num := func(x string) float64 {
			v, err := strconv.ParseFloat(x, 64)
			if err != nil {
				b.Fatal(err)
			}
			return v
		}
		b.ReportMetric(num(r[1]), "tokens/s")
		b.ReportMetric(num(s[1]), "step-tokens/s")
		b.ReportMetric(num(s[2]), "overhead-%")
	}
}
