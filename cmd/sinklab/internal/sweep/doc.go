// Package sweep runs grids of sinklab training runs: it parses sweep files,
// expands them into cells (one cell = one training run: a combination of grid
// values and a seed), keeps the sweep folder's manifest and per-cell markers,
// runs cells on a local worker pool of child processes or submits them as a
// Slurm job array (SubmitArray), reports a folder's cells and Slurm tasks
// (ReadStatus), and summarises finished cells into sweep.parquet.
//
// # Sweep files
//
//	name: induction-variants          # optional; names the default --out folder and the Slurm job
//	task: induction                   # optional; the train command's task (default induction)
//	base:                             # --set values shared by every cell (dotted keys or nested maps)
//	  model.d_model: 32
//	  train: {steps: 300, batch: 32}
//	grid:                             # one list per key; the cells are the cross product
//	  model.attention: [softmax, sigmoid]
//	  model.n_heads: [1, 4]
//	variants:                         # optional: named sets of values, one more grid dimension (outermost)
//	  softmax: {}                     #   the base configuration itself
//	  gate-head: {model.gate: head}
//	  sink-logit: {model.sink_logit: true}
//	seeds: [1, 2]                     # optional; default [1]
//	slurm:                            # optional #SBATCH defaults (flags override them)
//	  partition: debug
//	  time: "00:30:00"
//	  cpus_per_task: 1
//	  mem: 2G
//	  extra: ["--qos=short"]
//
// Cells are numbered in grid order: the variants (when given) vary slowest,
// then the grid keys in file order, the seed fastest. Variants compare
// settings that live on different keys (a gate, a sink logit, another
// attention type) without the cross product of those keys; a variant's keys
// may not also be set in base or grid, and sweep.parquet names the variant in
// its "variant" column. A cell's id names its grid values and seed, for
// example attention-sigmoid__n_heads-4__seed-1 or variant-gate-head__seed-1
// (keys shortened to their last segment when that is unambiguous; a value
// with characters outside [A-Za-z0-9._-] or a very long id gets a short hash
// of the exact values appended).
//
// # The sweep folder
//
//	DIR/sweep.json        the manifest: every cell's index, id, task and --set list
//	DIR/<cell-id>/        a normal run folder (as sinklab train writes it), plus
//	  done.json           written last when the run finished (the cell is done)
//	  failed.json         written when the run failed
//	DIR/logs/             each cell's output (local: <cell-id>.log; Slurm: slurm-<job>_<index>.out)
//	DIR/sweep.sbatch      the Slurm job array (Slurm backend)
//	DIR/slurm.json        the Slurm jobs submitted for this folder
//	DIR/sweep.parquet     one row per cell: parameters, status, final metrics
//
// Running a sweep again skips done cells and reruns the others after removing
// any partial run folder. A sweep file that would give an existing cell id
// another configuration is refused (ErrConflict).
package sweep
