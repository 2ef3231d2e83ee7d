// Package report turns run folders into one self-contained HTML page of
// charts (sinklab report), and writes the attention snapshots that the page's
// heatmaps draw.
//
// # Pipeline
//
// Load reads a run folder (config.json, the Parquet logs of a training run,
// its attention snapshots, or theory.parquet of a theory run); Build turns
// one or more runs into a Report, plain chart data: line charts with their
// series, layer × head grids of small multiples, heatmap groups and tables;
// Report.WriteHTML draws it as inline SVG in one HTML page with inline CSS
// and no script or external resource (a Content-Security-Policy forbids
// them), and Report.WritePNGs draws the same data with gonum.org/v1/plot.
// Generate is Load + Build for a list of folders.
//
//	rep, err := report.Generate([]string{"runs/a", "runs/b"}, nil)
//	if err != nil { ... }              // a *RunError for unusable folders
//	err = rep.WriteHTMLFile("report.html")
//	paths, err := rep.WritePNGs("figures")
//
// Series hold every logged point; drawing downsamples each line to at most
// four points per pixel column (Downsample, the M4 rule), so a 10⁵-step run
// draws as fast as a short one and looks the same. Summary numbers (final
// loss, Sink₁^ε, mean entropy, sink heads) always use every row.
//
// # Theory vs probes
//
// Training runs whose probes log has the replicator columns (bos_drift, …)
// get a "theory vs probes" section: a scatter of each head's bos_drift at a
// probe step against the change of its first-token mass α₁ until the next
// (DriftPairs; the caption gives the sign agreement, DriftAgreement), the
// agreement per probe step, and RUN_DIR/theory_check.parquet as a table when
// it exists. Runs without the columns (older runs, probe.skip_replicator) get
// none. Theory runs with the logistic loss and the softmax normalizer get
// the toy's reference, where the flow is exact: the drift of the final
// winner's weight predicted from the recorded σ and u (ToyWeightDrift)
// against its change until the next record. Other toy variants get none:
// theory.parquet does not record what their flow of the scores needs (V, or
// the data of the regression and cross-entropy losses).
//
// # Attention snapshots
//
// The Parquet logs hold per-head metrics, not attention maps. For the
// heatmaps, training writes the maps of the first evaluation sequence at
// probe steps into RUN_DIR/attn/step-NNNNNNN.json (seven-digit step), one
// AttnSnapshot per file:
//
//	{"format": "sinklab.attn", "version": 1, "step": 300, "sample": 0,
//	 "t": 12, "full_t": 12, "causal": true, "normalized": true,
//	 "sink_token": false, "variant": "softmax",
//	 "tokens": [0, 34, 2, …],            // token ids; -1 = learned sink token
//	 "labels": ["BOS", "34", …],         // optional display strings
//	 "attn": [[[[1, 0, …], …], …], …]}   // [layer][head][query i][key j], raw weights, 4 significant digits
//
// A trainer calls, in its probe hook,
//
//	if report.AttnSnapshotDue(step, cfg.Probe.Every, cfg.Train.Steps) {
//		s, err := report.NewAttnSnapshot(capture, 0, int64(step), evalInputs[:T], 0)
//		… s.Labels = … (optional)
//		err = report.WriteAttnSnapshot(runDir, s)
//	}
//
// and TruncateAttnSnapshots(runDir, step) beside probes.TruncateAfter when a
// run resumes. AttnSnapshotDue keeps the number of files bounded (the first
// and last steps and about DefaultAttnSnapshots probe steps between); the
// maps are cut to the first DefaultAttnMaxT positions. The report draws the
// first, a middle and the last snapshot, and says so when a run has none.
package report
