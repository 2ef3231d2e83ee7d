// Package probes computes the attention-sink metrics of SCIENCE.md §3 over
// captured attention maps, values and residual streams, and records them, with
// training metrics and theory trajectories, into Parquet files.
package probes
