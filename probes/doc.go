// Package probes computes the attention-sink metrics of SCIENCE.md §3 over
// captured attention maps, values and residual streams, and records them, with
// training metrics and theory trajectories, into Parquet files.
//
// The captures are the transformer's (transformer/capture, a leaf package):
// probes reads them and never imports the model. Each probe step is measured
// once (Recorder.WriteProbeStep returns the rows it wrote), and its sink
// summary (Sink₁^ε, the sink heads) comes from SummarizeSinks, which the
// training summary, the report and sweeps all use.
package probes
