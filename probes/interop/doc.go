// Package interop checks that the Parquet logs sinklab writes are read by an
// independent engine, DuckDB, through its Go driver (cgo). It is a separate Go
// module so that the main module does not pull in DuckDB; it has no code of its
// own, only tests:
//
//	cd probes/interop && CGO_ENABLED=1 go test ./...
//
// The test writes synthetic runs with sinklab's Recorder and, when
// SINKLAB_RUNS_DIR lists run folders (separated by the OS path-list separator,
// ':' on Linux), checks those real runs too.
package interop
