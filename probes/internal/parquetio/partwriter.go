// Package parquetio writes append-only logs as numbered Parquet part files that
// survive a killed process: each part is written under a hidden temporary name
// and renamed into place only once its footer is on disk, so a glob such as
// DuckDB's read_parquet('dir/*.parquet') always sees complete files only.
//
// Layout of one log folder:
//
//	dir/part-00000.parquet   finished parts, numbered from 0
//	dir/part-00001.parquet
//	dir/.part-00002.parquet.tmp   the part being written (hidden; removed when a
//	                              writer or a rewrite next opens the folder)
package parquetio

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/parquet-go/parquet-go"
)

// Defaults of Options.
const (
	// DefaultRowsPerPart bounds the rows of one part: large enough that parts
	// end mostly at Flush calls (checkpoints), small enough that a killed run
	// loses at most this many rows of a log that is never flushed.
	DefaultRowsPerPart = 1 << 20
	// DefaultRowGroupBytes is the buffered size at which a row group is
	// flushed, so memory stays bounded however long a part grows.
	DefaultRowGroupBytes = 8 << 20
)

// Options configures a PartWriter. Zero values mean the defaults.
type Options struct {
	RowsPerPart   int64             // start a new part after this many rows
	RowGroupBytes int64             // flush a row group once this many bytes are buffered
	Metadata      map[string]string // key-value metadata of every part
}

// PartWriter appends rows of type T (a struct with parquet tags) to numbered
// part files in one folder. It is not safe for concurrent use, and only one
// writer may use a folder at a time.
type PartWriter[T any] struct {
	dir           string
	rowsPerPart   int64
	rowGroupBytes int64
	meta          map[string]string
	next          int // number of the next part to open

	cur *part[T] // nil between parts
	err error    // sticky: once a write failed the writer refuses more
}

// part is the file being written.
type part[T any] struct {
	f         *os.File
	w         *parquet.GenericWriter[T]
	tmp, name string
	rows      int64
	flushedAt int64 // w.Size() after the last row-group flush
}

// PartName returns the file name of part i.
func PartName(i int) string { return fmt.Sprintf("part-%05d.parquet", i) }

// tempName returns the hidden name a part has while it is written.
func tempName(name string) string { return "." + name + ".tmp" }

// partNumber parses a finished part's file name.
func partNumber(name string) (int, bool) {
	s, ok := strings.CutPrefix(name, "part-")
	if !ok {
		return 0, false
	}
	s, ok = strings.CutSuffix(s, ".parquet")
	if !ok {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		return 0, false
	}
	return n, true
}

// ListParts returns the paths of the finished parts in dir in part order. A
// missing folder has no parts.
func ListParts(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("parquetio: list %s: %w", dir, err)
	}
	type numbered struct {
		n    int
		path string
	}
	var parts []numbered
	for _, e := range entries {
		if n, ok := partNumber(e.Name()); ok && e.Type().IsRegular() {
			parts = append(parts, numbered{n, filepath.Join(dir, e.Name())})
		}
	}
	slices.SortFunc(parts, func(a, b numbered) int { return a.n - b.n })
	paths := make([]string, len(parts))
	for i, p := range parts {
		paths[i] = p.path
	}
	return paths, nil
}

// RemoveTemps deletes the hidden temporary files that a killed writer or
// rewrite left in dir. A missing folder is not an error.
func RemoveTemps(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("parquetio: list %s: %w", dir, err)
	}
	for _, e := range entries {
		if n := e.Name(); strings.HasPrefix(n, ".") && strings.HasSuffix(n, ".parquet.tmp") {
			if err := os.Remove(filepath.Join(dir, n)); err != nil {
				return fmt.Errorf("parquetio: remove stale %s: %w", n, err)
			}
		}
	}
	return nil
}

// NewPartWriter opens the log folder dir, creating it if needed. Parts are
// numbered after the highest finished part already there, so a resumed run
// appends; stale temporary files of a killed writer are removed. No file is
// created until the first row is written.
func NewPartWriter[T any](dir string, opts Options) (*PartWriter[T], error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("parquetio: create %s: %w", dir, err)
	}
	if err := RemoveTemps(dir); err != nil {
		return nil, err
	}
	parts, err := ListParts(dir)
	if err != nil {
		return nil, err
	}
	next := 0
	if len(parts) > 0 {
		n, _ := partNumber(filepath.Base(parts[len(parts)-1]))
		next = n + 1
	}
	w := &PartWriter[T]{
		dir:           dir,
		rowsPerPart:   opts.RowsPerPart,
		rowGroupBytes: opts.RowGroupBytes,
		meta:          maps.Clone(opts.Metadata),
		next:          next,
	}
	if w.rowsPerPart <= 0 {
		w.rowsPerPart = DefaultRowsPerPart
	}
	if w.rowGroupBytes <= 0 {
		w.rowGroupBytes = DefaultRowGroupBytes
	}
	if w.meta == nil {
		w.meta = map[string]string{}
	}
	return w, nil
}

// Dir returns the log folder.
func (w *PartWriter[T]) Dir() string { return w.dir }

// SetMetadata sets a key-value metadata entry of the part being written and of
// every later part.
func (w *PartWriter[T]) SetMetadata(key, value string) {
	w.meta[key] = value
	if w.cur != nil {
		w.cur.w.SetKeyValueMetadata(key, value)
	}
}

// writerOptions returns the parquet writer options every part and rewrite uses.
func writerOptions(meta map[string]string) []parquet.WriterOption {
	opts := []parquet.WriterOption{parquet.Compression(&parquet.Zstd)}
	for _, k := range slices.Sorted(maps.Keys(meta)) {
		opts = append(opts, parquet.KeyValueMetadata(k, meta[k]))
	}
	return opts
}

// open starts the next part under its temporary name.
func (w *PartWriter[T]) open() error {
	name := PartName(w.next)
	tmp := filepath.Join(w.dir, tempName(name))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("parquetio: create part: %w", err)
	}
	w.cur = &part[T]{
		f:    f,
		w:    parquet.NewGenericWriter[T](f, writerOptions(w.meta)...),
		tmp:  tmp,
		name: filepath.Join(w.dir, name),
	}
	w.next++
	return nil
}

// Write appends rows, starting a new part whenever the current one reaches
// RowsPerPart rows.
func (w *PartWriter[T]) Write(rows []T) error {
	if w.err != nil {
		return w.err
	}
	for len(rows) > 0 {
		if w.cur == nil {
			if err := w.open(); err != nil {
				w.err = err
				return err
			}
		}
		p := w.cur
		n := min(int64(len(rows)), w.rowsPerPart-p.rows)
		if _, err := p.w.Write(rows[:n]); err != nil {
			w.err = fmt.Errorf("parquetio: write %s: %w", p.tmp, err)
			return w.err
		}
		p.rows += n
		rows = rows[n:]
		if size := p.w.Size(); size-p.flushedAt >= w.rowGroupBytes {
			if err := p.w.Flush(); err != nil {
				w.err = fmt.Errorf("parquetio: flush row group of %s: %w", p.tmp, err)
				return w.err
			}
			p.flushedAt = p.w.Size()
		}
		if p.rows >= w.rowsPerPart {
			if err := w.Flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// Flush finishes the current part, if it has rows: writes its footer, syncs
// it and renames it into place. The next Write starts a new part.
func (w *PartWriter[T]) Flush() error {
	if w.err != nil {
		return w.err
	}
	p := w.cur
	if p == nil {
		return nil
	}
	w.cur = nil
	if err := finish(p.f, p.w, p.tmp, p.name); err != nil {
		w.err = err
		return err
	}
	return nil
}

// Close finishes the current part. The writer must not be used afterwards.
func (w *PartWriter[T]) Close() error {
	err := w.Flush()
	if err == nil {
		w.err = errors.New("parquetio: writer is closed")
	}
	return err
}

// finish closes the parquet writer w on f, makes the file durable and renames
// tmp to name. On failure tmp is removed.
func finish(f *os.File, w io.Closer, tmp, name string) error {
	err := w.Close()
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("parquetio: finish %s: %w", name, err)
	}
	syncDir(filepath.Dir(name))
	return nil
}

// syncDir makes a rename in dir durable where the platform allows it; errors
// are ignored since the rename itself already succeeded.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// ReadFile reads every row and the key-value metadata of one Parquet file.
func ReadFile[T any](path string) ([]T, map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("parquetio: open %s: %w", path, err)
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, nil, fmt.Errorf("parquetio: stat %s: %w", path, err)
	}
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		return nil, nil, fmt.Errorf("parquetio: read %s: %w", path, err)
	}
	meta := make(map[string]string, len(pf.Metadata().KeyValueMetadata))
	for _, kv := range pf.Metadata().KeyValueMetadata {
		meta[kv.Key] = kv.Value
	}
	rows := make([]T, pf.NumRows())
	r := parquet.NewGenericReader[T](pf)
	defer r.Close()
	n, err := r.Read(rows)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, nil, fmt.Errorf("parquetio: read rows of %s: %w", path, err)
	}
	if int64(n) != pf.NumRows() {
		return nil, nil, fmt.Errorf("parquetio: read %s: got %d of %d rows", path, n, pf.NumRows())
	}
	return rows, meta, nil
}

// WriteFile writes rows as one whole Parquet file at path (zstd, the given
// key-value metadata, row groups ended by DefaultRowGroupBytes), atomically:
// under a hidden temporary name in the same folder, synced, then renamed over
// path. On failure the temporary file is removed and path is left as it was.
func WriteFile[T any](path string, rows []T, meta map[string]string) error {
	tmp := filepath.Join(filepath.Dir(path), tempName(filepath.Base(path)))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("parquetio: write %s: %w", path, err)
	}
	w := parquet.NewGenericWriter[T](f, writerOptions(meta)...)
	if err := writeChunked(w, rows, DefaultRowGroupBytes); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("parquetio: write %s: %w", path, err)
	}
	return finish(f, w, tmp, path)
}

// Filter keeps the rows of the Parquet file at path for which keep is true,
// preserving its key-value metadata. The file is replaced atomically (written
// under a hidden temporary name, then renamed over it); a file that keeps no
// row is removed, and one that keeps every row is left untouched. It returns
// how many rows were kept and how many the file had.
func Filter[T any](path string, keep func(*T) bool) (kept, total int, err error) {
	rows, meta, err := ReadFile[T](path)
	if err != nil {
		return 0, 0, err
	}
	out := rows[:0:0]
	for i := range rows {
		if keep(&rows[i]) {
			out = append(out, rows[i])
		}
	}
	switch len(out) {
	case len(rows):
		return len(rows), len(rows), nil
	case 0:
		if err := os.Remove(path); err != nil {
			return 0, len(rows), fmt.Errorf("parquetio: remove %s: %w", path, err)
		}
		syncDir(filepath.Dir(path))
		return 0, len(rows), nil
	}
	tmp := filepath.Join(filepath.Dir(path), tempName(filepath.Base(path)))
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return 0, len(rows), fmt.Errorf("parquetio: rewrite %s: %w", path, err)
	}
	w := parquet.NewGenericWriter[T](f, writerOptions(meta)...)
	if err := writeChunked(w, out, DefaultRowGroupBytes); err != nil {
		f.Close()
		os.Remove(tmp)
		return 0, len(rows), fmt.Errorf("parquetio: rewrite %s: %w", path, err)
	}
	if err := finish(f, w, tmp, path); err != nil {
		return 0, len(rows), err
	}
	return len(out), len(rows), nil
}

// writeChunked writes rows to w in chunks, ending a row group whenever the
// buffered size reaches rowGroupBytes.
func writeChunked[T any](w *parquet.GenericWriter[T], rows []T, rowGroupBytes int64) error {
	const chunk = 4096
	flushedAt := w.Size()
	for len(rows) > 0 {
		n := min(len(rows), chunk)
		if _, err := w.Write(rows[:n]); err != nil {
			return err
		}
		rows = rows[n:]
		if w.Size()-flushedAt >= rowGroupBytes {
			if err := w.Flush(); err != nil {
				return err
			}
			flushedAt = w.Size()
		}
	}
	return nil
}
