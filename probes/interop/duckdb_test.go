package interop

import (
	"cmp"
	"database/sql"
	"encoding/json"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	_ "github.com/duckdb/duckdb-go/v2" // registers the "duckdb" database/sql driver
	"github.com/parquet-go/parquet-go"

	"github.com/sinklab/sinklab/probes"
	"github.com/sinklab/sinklab/transformer/capture"
)

// openDB opens an in-memory DuckDB.
func openDB(t *testing.T) *sql.DB {
	t.Helper()
	db, err := sql.Open("duckdb", "")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// lit quotes s as a SQL string literal.
func lit(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// glob is the DuckDB source of every part of one log.
func glob(runDir, kind string) string {
	return "read_parquet(" + lit(filepath.Join(runDir, kind, "*.parquet")) + ")"
}

func queryInt(t *testing.T, db *sql.DB, q string) int64 {
	t.Helper()
	var n int64
	if err := db.QueryRow(q).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// kvMetadata reads every file's key-value metadata through DuckDB:
// file name → key → value.
func kvMetadata(t *testing.T, db *sql.DB, pattern string) map[string]map[string]string {
	t.Helper()
	q := "SELECT file_name, decode(key), decode(value) FROM parquet_kv_metadata(" + lit(pattern) + ")"
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	out := map[string]map[string]string{}
	for rows.Next() {
		var f, k, v string
		if err := rows.Scan(&f, &k, &v); err != nil {
			t.Fatal(err)
		}
		if out[f] == nil {
			out[f] = map[string]string{}
		}
		out[f][k] = v
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// sameFloat treats NaN as equal to NaN.
func sameFloat(a, b float64) bool { return a == b || (math.IsNaN(a) && math.IsNaN(b)) }

func sameNull(a sql.NullFloat64, b *float64) bool {
	return a.Valid == (b != nil) && (!a.Valid || sameFloat(a.Float64, *b))
}

// readParts reads every part of a log folder with parquet-go, the writer's
// own library, as the reference DuckDB is compared with.
func readParts[T any](t *testing.T, dir string) []T {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "*.parquet"))
	var all []T
	for _, f := range files {
		rows, err := parquet.ReadFile[T](f)
		if err != nil {
			t.Fatalf("parquet-go read %s: %v", f, err)
		}
		all = append(all, rows...)
	}
	return all
}

// checkMetadata checks the key-value metadata every sinklab log file carries,
// and that the run_id column agrees with it.
func checkMetadata(t *testing.T, db *sql.DB, runDir, kind string) map[string]string {
	t.Helper()
	meta := kvMetadata(t, db, filepath.Join(runDir, kind, "*.parquet"))
	files, _ := filepath.Glob(filepath.Join(runDir, kind, "*.parquet"))
	if len(meta) != len(files) {
		t.Errorf("%s: DuckDB read metadata of %d files, %d exist", kind, len(meta), len(files))
	}
	var first map[string]string
	for _, f := range files {
		m := meta[f]
		for _, k := range []string{probes.MetaRunID, probes.MetaConfig, probes.MetaVersion, probes.MetaMetricsVersion} {
			if _, ok := m[k]; !ok {
				t.Errorf("%s: metadata key %q missing", f, k)
			}
		}
		if m[probes.MetaKind] != kind {
			t.Errorf("%s: kind %q want %q", f, m[probes.MetaKind], kind)
		}
		if !json.Valid([]byte(m[probes.MetaConfig])) {
			t.Errorf("%s: config is not JSON: %.80q", f, m[probes.MetaConfig])
		}
		if kind != probes.MetricsDir {
			if fp := m[probes.MetaFirstPosition]; fp != "bos" && fp != "sink_token" {
				t.Errorf("%s: first_position %q", f, fp)
			}
		}
		if first == nil {
			first = m
		} else if m[probes.MetaRunID] != first[probes.MetaRunID] {
			t.Errorf("%s: run_id %q differs from another part's %q", f, m[probes.MetaRunID], first[probes.MetaRunID])
		}
	}
	q := "SELECT count(*) FROM " + glob(runDir, kind) + " WHERE run_id <> " + lit(first[probes.MetaRunID])
	if n := queryInt(t, db, q); n != 0 {
		t.Errorf("%s: %d rows whose run_id differs from the metadata's %q", kind, n, first[probes.MetaRunID])
	}
	return first
}

// checkMetrics compares metrics/ as DuckDB reads it with parquet-go's reading.
func checkMetrics(t *testing.T, db *sql.DB, runDir string) []probes.MetricsRow {
	want := readParts[probes.MetricsRow](t, filepath.Join(runDir, probes.MetricsDir))
	slices.SortStableFunc(want, func(a, b probes.MetricsRow) int { return cmp.Compare(a.Step, b.Step) })
	q := `SELECT run_id, step, tokens, loss, val_loss, val_accuracy, lr, grad_norm, step_seconds, sink_rate,
	             coalesce(to_json(group_loss)::VARCHAR, '{}')
	      FROM ` + glob(runDir, probes.MetricsDir) + ` ORDER BY step`
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	i := 0
	for ; rows.Next(); i++ {
		var g probes.MetricsRow
		var val, acc, sink sql.NullFloat64
		var groups string
		if err := rows.Scan(&g.RunID, &g.Step, &g.Tokens, &g.Loss, &val, &acc, &g.LR, &g.GradNorm, &g.StepSeconds, &sink, &groups); err != nil {
			t.Fatal(err)
		}
		if i >= len(want) {
			continue
		}
		w := want[i]
		var gl map[string]float64
		if err := json.Unmarshal([]byte(groups), &gl); err != nil {
			t.Errorf("metrics step %d: group_loss %q: %v", g.Step, groups, err)
		}
		if g.RunID != w.RunID || g.Step != w.Step || g.Tokens != w.Tokens || !sameFloat(g.Loss, w.Loss) ||
			!sameNull(val, w.ValLoss) || !sameNull(acc, w.ValAccuracy) || !sameFloat(g.LR, w.LR) ||
			!sameFloat(g.GradNorm, w.GradNorm) || !sameFloat(g.StepSeconds, w.StepSeconds) || !sameNull(sink, w.SinkRate) ||
			len(gl) != len(w.GroupLoss) {
			t.Errorf("metrics row %d: DuckDB %+v (val %v acc %v sink %v groups %s), parquet-go %+v", i, g, val, acc, sink, groups, w)
			continue
		}
		for k, v := range w.GroupLoss {
			if !sameFloat(gl[k], v) {
				t.Errorf("metrics step %d: group_loss[%q] DuckDB %v parquet-go %v", g.Step, k, gl[k], v)
			}
		}
	}
	if i != len(want) {
		t.Errorf("metrics: DuckDB %d rows, parquet-go %d", i, len(want))
	}
	if n := queryInt(t, db, "SELECT count(*) - count(DISTINCT step) FROM "+glob(runDir, probes.MetricsDir)); n != 0 {
		t.Errorf("metrics: %d duplicate steps", n)
	}
	return want
}

// checkProbes compares probes/ as DuckDB reads it with parquet-go's reading
// and checks is_sink_head against bos_sink_score.
func checkProbes(t *testing.T, db *sql.DB, runDir string) {
	want := readParts[probes.HeadRow](t, filepath.Join(runDir, probes.ProbesDir))
	slices.SortStableFunc(want, func(a, b probes.HeadRow) int {
		return cmp.Or(cmp.Compare(a.Step, b.Step), cmp.Compare(a.Layer, b.Layer), cmp.Compare(a.Head, b.Head),
			cmp.Compare(a.Group, b.Group))
	})
	q := `SELECT run_id, step, tokens, layer, head, variant, "group", entropy, entropy_norm, first_token_mass,
	             bos_sink_score, is_sink_head, sparsity, row_mass, bos_value_norm_ratio,
	             abs_attn_bos, abs_attn_all, rel_attn_bos, rel_attn_bos_global
	      FROM ` + glob(runDir, probes.ProbesDir) + ` ORDER BY step, layer, head, "group"`
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	i := 0
	for ; rows.Next(); i++ {
		var g probes.HeadRow
		if err := rows.Scan(&g.RunID, &g.Step, &g.Tokens, &g.Layer, &g.Head, &g.Variant, &g.Group, &g.Entropy, &g.EntropyNorm,
			&g.FirstTokenMass, &g.BOSSinkScore, &g.IsSinkHead, &g.Sparsity, &g.RowMass, &g.BOSValueNormRatio,
			&g.AbsAttnBOS, &g.AbsAttnAll, &g.RelAttnBOS, &g.RelAttnBOSGlobal); err != nil {
			t.Fatal(err)
		}
		if i >= len(want) {
			continue
		}
		w := want[i]
		if g.RunID != w.RunID || g.Step != w.Step || g.Tokens != w.Tokens || g.Layer != w.Layer || g.Head != w.Head ||
			g.Variant != w.Variant || g.IsSinkHead != w.IsSinkHead || !sameFloat(g.Entropy, w.Entropy) ||
			!sameFloat(g.EntropyNorm, w.EntropyNorm) || !sameFloat(g.FirstTokenMass, w.FirstTokenMass) ||
			!sameFloat(g.BOSSinkScore, w.BOSSinkScore) || !sameFloat(g.Sparsity, w.Sparsity) ||
			!sameFloat(g.RowMass, w.RowMass) || !sameFloat(g.BOSValueNormRatio, w.BOSValueNormRatio) ||
			g.Group != w.Group || !sameFloat(g.AbsAttnBOS, w.AbsAttnBOS) || !sameFloat(g.AbsAttnAll, w.AbsAttnAll) ||
			!sameFloat(g.RelAttnBOS, w.RelAttnBOS) || !sameFloat(g.RelAttnBOSGlobal, w.RelAttnBOSGlobal) {
			t.Errorf("probes row %d: DuckDB %+v, parquet-go %+v", i, g, w)
		}
	}
	if i != len(want) {
		t.Errorf("probes: DuckDB %d rows, parquet-go %d", i, len(want))
	}
	src := glob(runDir, probes.ProbesDir)
	if n := queryInt(t, db, `SELECT count(*) FROM (SELECT step, layer, head, "group" FROM `+src+" GROUP BY ALL HAVING count(*) > 1)"); n != 0 {
		t.Errorf("probes: %d duplicated (step, layer, head, group)", n)
	}
	// Every (step, layer, head) has exactly one "all" row, and every group the
	// same number of rows.
	q = `SELECT count(*) FROM (SELECT step, layer, head, count(*) FILTER (WHERE "group" = 'all') AS n FROM ` + src +
		` GROUP BY ALL) WHERE n <> 1`
	if n := queryInt(t, db, q); n != 0 {
		t.Errorf("probes: %d (step, layer, head) without exactly one group = 'all' row", n)
	}
	if n := queryInt(t, db, `SELECT count(DISTINCT n) FROM (SELECT "group", count(*) AS n FROM `+src+" GROUP BY ALL)"); n != 1 {
		t.Errorf("probes: row groups have %d different row counts, want 1", n)
	}
	checkReplicator(t, db, src, want)
	// The paper's abs_attn_bos and abs_attn_all are first_token_mass and
	// row_mass under their names.
	q = "SELECT count(*) FROM " + src + " WHERE abs_attn_bos IS DISTINCT FROM first_token_mass OR abs_attn_all IS DISTINCT FROM row_mass"
	if n := queryInt(t, db, q); n != 0 {
		t.Errorf("probes: %d rows whose abs_attn_bos / abs_attn_all differ from first_token_mass / row_mass", n)
	}
	// DuckDB orders NaN above every number, so exclude it explicitly.
	q = "SELECT count(*) FROM " + src + " WHERE is_sink_head <> (NOT isnan(bos_sink_score) AND bos_sink_score > " +
		strconv.FormatFloat(probes.SinkHeadThreshold, 'g', -1, 64) + ")"
	if n := queryInt(t, db, q); n != 0 {
		t.Errorf("probes: %d rows whose is_sink_head disagrees with bos_sink_score > 0.9", n)
	}
}

// checkLayers compares layers/ as DuckDB reads it with parquet-go's reading.
func checkLayers(t *testing.T, db *sql.DB, runDir string) {
	want := readParts[probes.LayerRow](t, filepath.Join(runDir, probes.LayersDir))
	slices.SortStableFunc(want, func(a, b probes.LayerRow) int {
		return cmp.Or(cmp.Compare(a.Step, b.Step), cmp.Compare(a.Layer, b.Layer))
	})
	q := `SELECT run_id, step, tokens, layer, resid_peak_ratio, massive_activation_ratio
	      FROM ` + glob(runDir, probes.LayersDir) + ` ORDER BY step, layer`
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	i := 0
	for ; rows.Next(); i++ {
		var g probes.LayerRow
		if err := rows.Scan(&g.RunID, &g.Step, &g.Tokens, &g.Layer, &g.ResidPeakRatio, &g.MassiveActivationRatio); err != nil {
			t.Fatal(err)
		}
		if i < len(want) {
			w := want[i]
			if g.RunID != w.RunID || g.Step != w.Step || g.Tokens != w.Tokens || g.Layer != w.Layer ||
				!sameFloat(g.ResidPeakRatio, w.ResidPeakRatio) || !sameFloat(g.MassiveActivationRatio, w.MassiveActivationRatio) {
				t.Errorf("layers row %d: DuckDB %+v, parquet-go %+v", i, g, w)
			}
		}
	}
	if i != len(want) {
		t.Errorf("layers: DuckDB %d rows, parquet-go %d", i, len(want))
	}
}

// checkSinkRate recomputes sink_rate of every probe step from probes/ in SQL:
// 100 × share of heads with first_token_mass > ε.
func checkSinkRate(t *testing.T, db *sql.DB, runDir string, eps string) {
	q := `SELECT count(*) FROM ` + glob(runDir, probes.MetricsDir) + ` m
	      JOIN (SELECT step, 100 * avg(CASE WHEN first_token_mass > ` + eps + ` AND NOT isnan(first_token_mass) THEN 1 ELSE 0 END) AS rate
	            FROM ` + glob(runDir, probes.ProbesDir) + ` WHERE "group" = 'all' GROUP BY step) p USING (step)
	      WHERE m.sink_rate IS NULL OR abs(m.sink_rate - p.rate) > 1e-9`
	if n := queryInt(t, db, q); n != 0 {
		t.Errorf("%d probe steps whose metrics.sink_rate disagrees with probes.first_token_mass", n)
	}
}

// checkOther checks Parquet files that are not part logs (theory.parquet):
// DuckDB reads as many rows and the same columns as parquet-go, and the file
// carries run_id and config metadata.
func checkOther(t *testing.T, db *sql.DB, path string) {
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	pf, err := parquet.OpenFile(f, st.Size())
	if err != nil {
		t.Fatalf("parquet-go open %s: %v", path, err)
	}
	src := "read_parquet(" + lit(path) + ")"
	if n := queryInt(t, db, "SELECT count(*) FROM "+src); n != pf.NumRows() {
		t.Errorf("%s: DuckDB %d rows, parquet-go %d", path, n, pf.NumRows())
	}
	rows, err := db.Query("SELECT column_name FROM (DESCRIBE SELECT * FROM " + src + ")")
	if err != nil {
		t.Fatal(err)
	}
	var cols []string
	for rows.Next() {
		var c string
		rows.Scan(&c)
		cols = append(cols, c)
	}
	rows.Close()
	var want []string
	for _, fld := range pf.Schema().Fields() {
		want = append(want, fld.Name())
	}
	if !slices.Equal(cols, want) {
		t.Errorf("%s: DuckDB columns %v, parquet-go %v", path, cols, want)
	}
	// Column sums of every numeric column, DuckDB against parquet-go.
	generic := make([]map[string]any, pf.NumRows())
	for i := range generic {
		generic[i] = map[string]any{}
	}
	gr := parquet.NewGenericReader[map[string]any](pf, pf.Schema())
	if n, err := gr.Read(generic); int64(n) != pf.NumRows() || (err != nil && err != io.EOF) {
		t.Fatalf("parquet-go read %s: %d rows, %v", path, n, err)
	}
	gr.Close()
	for _, col := range want {
		var sum float64
		numeric := len(generic) > 0
		for _, r := range generic {
			switch v := r[col].(type) {
			case float64:
				sum += v
			case float32:
				sum += float64(v)
			case int64:
				sum += float64(v)
			case int32:
				sum += float64(v)
			case nil:
			default:
				numeric = false
			}
		}
		if !numeric {
			continue
		}
		var got sql.NullFloat64
		q := "SELECT sum(" + strconv.Quote(col) + ")::DOUBLE FROM " + src
		if err := db.QueryRow(q).Scan(&got); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
		if !(sameFloat(got.Float64, sum) || math.Abs(got.Float64-sum) <= 1e-9*math.Max(1, math.Abs(sum))) {
			t.Errorf("%s: sum(%s) DuckDB %v parquet-go %v", path, col, got.Float64, sum)
		}
	}
	m := kvMetadata(t, db, path)[path]
	for _, k := range []string{probes.MetaRunID, probes.MetaConfig} {
		if _, ok := m[k]; !ok {
			t.Errorf("%s: metadata key %q missing", path, k)
		}
	}
}

// checkMixing checks mixing.parquet beyond checkOther: the metadata, one row
// per (layer, head), top1_dominance = (rate_a + rate_b)/2, rates in [0, 1],
// and the values DuckDB reads equal parquet-go's.
func checkMixing(t *testing.T, db *sql.DB, path string) {
	want, _, err := probes.ReadMixing(path)
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(want, func(a, b probes.MixingRow) int {
		return cmp.Or(cmp.Compare(a.Layer, b.Layer), cmp.Compare(a.Head, b.Head))
	})
	m := kvMetadata(t, db, path)[path]
	if m[probes.MetaKind] != "mixing" || m[probes.MetaMixingPairs] == "" || m[probes.MetaMetricsVersion] != probes.MetricsVersion {
		t.Errorf("%s metadata: %v", path, m)
	}
	src := "read_parquet(" + lit(path) + ")"
	q := `SELECT run_id, step, layer, head, rate_a, rate_b, top1_dominance, pairs, abs_attn_max, abs_attn_sum, rel_attn_max
	      FROM ` + src + ` ORDER BY layer, head`
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	i := 0
	for ; rows.Next(); i++ {
		var g probes.MixingRow
		if err := rows.Scan(&g.RunID, &g.Step, &g.Layer, &g.Head, &g.RateA, &g.RateB, &g.Top1Dominance, &g.Pairs,
			&g.AbsAttnMax, &g.AbsAttnSum, &g.RelAttnMax); err != nil {
			t.Fatal(err)
		}
		if i < len(want) && g != want[i] {
			t.Errorf("mixing row %d: DuckDB %+v, parquet-go %+v", i, g, want[i])
		}
		if strconv.Itoa(int(g.Pairs)) != m[probes.MetaMixingPairs] || g.RunID != m[probes.MetaRunID] {
			t.Errorf("mixing row %d: pairs %d run_id %q, metadata %q %q", i, g.Pairs, g.RunID, m[probes.MetaMixingPairs], m[probes.MetaRunID])
		}
	}
	if i != len(want) || i == 0 {
		t.Errorf("mixing: DuckDB %d rows, parquet-go %d", i, len(want))
	}
	q = "SELECT count(*) FROM " + src + ` WHERE abs(top1_dominance - (rate_a + rate_b) / 2) > 1e-12
	     OR rate_a NOT BETWEEN 0 AND 1 OR rate_b NOT BETWEEN 0 AND 1`
	if n := queryInt(t, db, q); n != 0 {
		t.Errorf("mixing: %d rows with rates outside [0, 1] or top1_dominance ≠ (rate_a + rate_b)/2", n)
	}
	if n := queryInt(t, db, "SELECT count(*) - count(DISTINCT (layer, head)) FROM "+src); n != 0 {
		t.Errorf("mixing: %d duplicated (layer, head)", n)
	}
}

// checkGroups checks the row groups a run's task must have (induction:
// paper_rows; classification: cls, and mixing.parquet when the run's config
// asks for label mixing; bigram-backcopy: trigger / non_trigger), from the
// config in the probes' metadata (config.json of a train run).
func checkGroups(t *testing.T, db *sql.DB, runDir, config string) {
	var rc struct {
		Config struct {
			Task  string `json:"task"`
			Probe struct {
				MixingPairs int `json:"mixing_pairs"`
			} `json:"probe"`
		} `json:"config"`
	}
	if json.Unmarshal([]byte(config), &rc) != nil || rc.Config.Task == "" {
		return // not a train run's config (the synthetic run)
	}
	var want []string
	switch rc.Config.Task {
	case probes.TaskInduction:
		want = []string{probes.GroupPaperRows}
	case probes.TaskClassification:
		want = []string{probes.GroupCLS}
		if rc.Config.Probe.MixingPairs > 0 {
			if _, err := os.Stat(filepath.Join(runDir, probes.MixingFile)); err != nil {
				t.Errorf("classification run with probe.mixing_pairs = %d: %v", rc.Config.Probe.MixingPairs, err)
			}
		}
	case "bigram-backcopy":
		want = []string{"non_trigger", "trigger"}
	}
	rows, err := db.Query(`SELECT DISTINCT "group" FROM ` + glob(runDir, probes.ProbesDir) + ` ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var g string
		rows.Scan(&g)
		got = append(got, g)
	}
	for _, g := range append(want, probes.GroupAll) {
		if !slices.Contains(got, g) {
			t.Errorf("%s run: groups %v lack %q", rc.Config.Task, got, g)
		}
	}
	t.Logf("%s: task %s, row groups %v", filepath.Base(runDir), rc.Config.Task, got)
}

// checkRun checks every file kind present in one run folder and returns how
// many it found.
func checkRun(t *testing.T, db *sql.DB, runDir string) int {
	kinds := 0
	has := func(kind string) bool {
		m, _ := filepath.Glob(filepath.Join(runDir, kind, "*.parquet"))
		return len(m) > 0
	}
	var eps string
	if has(probes.MetricsDir) {
		kinds++
		m := checkMetadata(t, db, runDir, probes.MetricsDir)
		eps = m[probes.MetaSinkEpsilon]
		checkMetrics(t, db, runDir)
	}
	if has(probes.ProbesDir) {
		kinds++
		pm := checkMetadata(t, db, runDir, probes.ProbesDir)
		checkProbes(t, db, runDir)
		checkGroups(t, db, runDir, pm[probes.MetaConfig])
		if eps != "" {
			if _, err := strconv.ParseFloat(eps, 64); err != nil {
				t.Errorf("sink_epsilon metadata %q: %v", eps, err)
			} else {
				checkSinkRate(t, db, runDir, eps)
			}
		}
	}
	if has(probes.LayersDir) {
		kinds++
		checkMetadata(t, db, runDir, probes.LayersDir)
		checkLayers(t, db, runDir)
	}
	others, _ := filepath.Glob(filepath.Join(runDir, "*.parquet"))
	more, _ := filepath.Glob(filepath.Join(runDir, "theory", "*.parquet"))
	for _, p := range append(others, more...) {
		kinds++
		checkOther(t, db, p)
		if filepath.Base(p) == probes.MixingFile {
			checkMixing(t, db, p)
		}
		if filepath.Base(p) == probes.TheoryCheckFile {
			checkTheoryCheck(t, db, p, runDir)
		}
	}
	return kinds
}

// fakeCapture builds a causal capture whose head h puts weight w(h) on the
// first token and spreads the rest uniformly; values and residuals are ramps.
func fakeCapture(B, T, L, H, HD, D int, step int) *capture.Capture {
	c := &capture.Capture{B: B, T: T, L: L, H: H, HD: HD, D: D, Causal: true, Normalized: true, Variant: "softmax",
		Task: probes.TaskInduction}
	for l := 0; l < L; l++ {
		a := make([]float32, B*H*T*T) // (B, H, T, T)
		for b := 0; b < B; b++ {
			for h := 0; h < H; h++ {
				w := math.Min(0.95, 0.1+0.2*float64(h)+0.01*float64(step+l))
				for i := 0; i < T; i++ {
					row := a[((b*H+h)*T+i)*T:][:i+1]
					if i == 0 {
						row[0] = 1
						continue
					}
					row[0] = float32(w)
					for j := 1; j <= i; j++ {
						row[j] = float32((1 - w) / float64(i))
					}
				}
			}
		}
		v := make([]float32, B*H*T*HD) // (B, H, T, HD)
		for i := range v {
			v[i] = float32(i%7) - 3
		}
		r := make([]float32, B*T*D) // (B, T, D)
		for i := range r {
			r[i] = float32(i%11) - 5
		}
		c.Attn, c.Values, c.Resid = append(c.Attn, a), append(c.Values, v), append(c.Resid, r)
	}
	return c
}

// writeSyntheticRun writes a run the way the trainer does and leaves one part
// of each log open, as after a SIGKILL. It returns the metrics rows that were
// flushed.
func writeSyntheticRun(t *testing.T, runDir string) []probes.MetricsRow {
	rec, err := probes.NewRecorder(runDir, "synthetic-1", `{"model":{"d_model":64,"n_layers":2}}`, "test", nil)
	if err != nil {
		t.Fatal(err)
	}
	var flushed, pending []probes.MetricsRow
	for s := 0; s < 120; s++ {
		row := probes.MetricsRow{Step: int64(s), Tokens: int64(s) * 512, Loss: 3 - 0.01*float64(s), LR: 1e-3,
			GradNorm: 1 / float64(s+1), StepSeconds: 0.005}
		if s%3 == 0 {
			row.GroupLoss = map[string]float64{"trigger": float64(s), "non_trigger": -float64(s)}
		}
		if s%10 == 0 {
			T := 8
			if s == 50 {
				T = 1 // a degenerate capture: NaN entropies must survive the round trip
			}
			rate, err := rec.WriteProbes(row.Step, row.Tokens, fakeCapture(4, T, 2, 4, 4, 8, s))
			if err != nil {
				t.Fatal(err)
			}
			row.SinkRate, row.ValLoss = probes.Float(rate), probes.Float(2.5)
		}
		if err := rec.WriteMetrics(row); err != nil {
			t.Fatal(err)
		}
		pending = append(pending, row)
		if s%40 == 39 && s < 100 { // checkpoints at 39 and 79; steps 80–119 never flushed
			if err := rec.Flush(); err != nil {
				t.Fatal(err)
			}
			flushed, pending = append(flushed, pending...), nil
		}
	}
	// No Close: the process "dies" here.
	return flushed
}

func TestDuckDBReadsSyntheticRun(t *testing.T) {
	db := openDB(t)
	runDir := filepath.Join(t.TempDir(), "synthetic-1")
	flushed := writeSyntheticRun(t, runDir)

	mixing := []probes.MixingRow{
		{RunID: "synthetic-1", Step: 119, Layer: 0, Head: 0, RateA: 1, RateB: 0.5, Top1Dominance: 0.75, Pairs: 500,
			AbsAttnMax: 0.9, AbsAttnSum: 1, RelAttnMax: 0.9},
		{RunID: "synthetic-1", Step: 119, Layer: 0, Head: 1, RateA: 0.25, RateB: 0.125, Top1Dominance: 0.1875, Pairs: 500,
			AbsAttnMax: 0.2, AbsAttnSum: 1, RelAttnMax: 0.2},
	}
	mmeta := probes.MixingMeta(500, 1, 1000)
	mmeta[probes.MetaRunID], mmeta[probes.MetaConfig] = "synthetic-1", "{}"
	if err := probes.WriteMixing(filepath.Join(runDir, probes.MixingFile), mixing, mmeta); err != nil {
		t.Fatal(err)
	}
	if kinds := checkRun(t, db, runDir); kinds != 4 {
		t.Errorf("file kinds: got %d want 4 (metrics, probes, layers, mixing)", kinds)
	}
	var dom float64
	q0 := "SELECT top1_dominance FROM read_parquet(" + lit(filepath.Join(runDir, probes.MixingFile)) + ") WHERE head = 1"
	if err := db.QueryRow(q0).Scan(&dom); err != nil || dom != 0.1875 {
		t.Errorf("%s: got %v, %v want 0.1875", q0, dom, err)
	}
	// Only the flushed steps are visible; the open parts are hidden temp files.
	if n := queryInt(t, db, "SELECT count(*) FROM "+glob(runDir, probes.MetricsDir)); n != int64(len(flushed)) || n != 80 {
		t.Errorf("metrics rows: got %d want %d", n, 80)
	}
	if n := queryInt(t, db, "SELECT max(step) FROM "+glob(runDir, probes.ProbesDir)); n != 70 {
		t.Errorf("probes max step: got %d want 70", n)
	}
	if n := queryInt(t, db, "SELECT count(*) FROM "+glob(runDir, probes.ProbesDir)); n != 8*2*4*2 {
		t.Errorf("probes rows: got %d want %d (8 steps × 2 layers × 4 heads × groups all, paper_rows)", n, 8*2*4*2)
	}
	if n := queryInt(t, db, "SELECT count(*) FROM "+glob(runDir, probes.LayersDir)); n != 8*2 {
		t.Errorf("layers rows: got %d want %d", n, 8*2)
	}
	// Nullable columns and the group-loss map, with DuckDB's own syntax.
	if n := queryInt(t, db, "SELECT count(val_loss) FROM "+glob(runDir, probes.MetricsDir)); n != 8 {
		t.Errorf("non-null val_loss: got %d want 8", n)
	}
	var trig float64
	q := "SELECT group_loss['trigger'] FROM " + glob(runDir, probes.MetricsDir) + " WHERE step = 42"
	if err := db.QueryRow(q).Scan(&trig); err != nil || trig != 42 {
		t.Errorf("%s: got %v, %v want 42", q, trig, err)
	}
	// Known values: head h of layer 0 at step 20 puts w = 0.1 + 0.2h + 0.2 on
	// the first token of rows 2…8, so α₁ = (1 + 7w)/8 and the sink score is w.
	for h := 0; h < 4; h++ {
		w := float64(float32(math.Min(0.95, 0.1+0.2*float64(h)+0.2)))
		var alpha, score float64
		q := "SELECT first_token_mass, bos_sink_score FROM " + glob(runDir, probes.ProbesDir) +
			" WHERE step = 20 AND layer = 0 AND \"group\" = 'all' AND head = " + strconv.Itoa(h)
		if err := db.QueryRow(q).Scan(&alpha, &score); err != nil {
			t.Fatal(err)
		}
		if math.Abs(alpha-(1+7*w)/8) > 1e-6 || math.Abs(score-w) > 1e-6 {
			t.Errorf("head %d: α₁ %v sink score %v want %v, %v", h, alpha, score, (1+7*w)/8, w)
		}
		// paper_rows (0-based rows 1 … 5) leave out the BOS row: every paper
		// metric is w there.
		var bos, rel, global float64
		q = "SELECT abs_attn_bos, rel_attn_bos, rel_attn_bos_global FROM " + glob(runDir, probes.ProbesDir) +
			" WHERE step = 20 AND layer = 0 AND \"group\" = 'paper_rows' AND head = " + strconv.Itoa(h)
		if err := db.QueryRow(q).Scan(&bos, &rel, &global); err != nil {
			t.Fatal(err)
		}
		if math.Abs(bos-w) > 1e-6 || math.Abs(rel-w) > 1e-6 || math.Abs(global-w) > 1e-6 {
			t.Errorf("head %d paper_rows: abs_attn_bos %v rel_attn_bos %v rel_attn_bos_global %v want %v", h, bos, rel, global, w)
		}
	}
	if n := queryInt(t, db, "SELECT count(*) FROM "+glob(runDir, probes.ProbesDir)+" WHERE step = 50 AND isnan(entropy)"); n != 16 {
		t.Errorf("T=1 step: NaN entropies got %d want 16 (8 heads × 2 groups)", n)
	}
	meta := kvMetadata(t, db, filepath.Join(runDir, probes.ProbesDir, "*.parquet"))
	for f, m := range meta {
		if m[probes.MetaRunID] != "synthetic-1" || m[probes.MetaMetricsVersion] != probes.MetricsVersion ||
			m["source.entropy"] != "blocks.{l}.attn.hook_pattern" || m["source.bos_value_norm_ratio"] != "blocks.{l}.attn.hook_v" ||
			m[probes.MetaFirstPosition] != "bos" {
			t.Errorf("%s metadata: %v", f, m)
		}
	}
}

// TestDuckDBReadsRealRuns checks the run folders listed in SINKLAB_RUNS_DIR
// (written by `sinklab train` / `sinklab theory`). An entry may be a run
// folder or a folder of run folders. Without the variable it checks a fresh
// synthetic run through the same path, so the test always asserts something.
func TestDuckDBReadsRealRuns(t *testing.T) {
	db := openDB(t)
	env := os.Getenv("SINKLAB_RUNS_DIR")
	if env == "" {
		dir := filepath.Join(t.TempDir(), "run")
		writeSyntheticRun(t, dir)
		env = dir
		t.Log("SINKLAB_RUNS_DIR not set: checking a synthetic run only")
	}
	for _, entry := range filepath.SplitList(env) {
		runs := runFolders(entry)
		if len(runs) == 0 {
			t.Errorf("%s: no run folder with Parquet logs found", entry)
		}
		for _, run := range runs {
			t.Run(filepath.Base(run), func(t *testing.T) {
				if kinds := checkRun(t, db, run); kinds == 0 {
					t.Errorf("%s: no Parquet files", run)
				}
			})
		}
	}
}

// runFolders returns dir itself if it holds sinklab logs, else its
// sub-folders that do.
func runFolders(dir string) []string {
	isRun := func(d string) bool {
		for _, p := range []string{"*.parquet", "metrics/*.parquet", "probes/*.parquet", "layers/*.parquet", "theory/*.parquet"} {
			if m, _ := filepath.Glob(filepath.Join(d, p)); len(m) > 0 {
				return true
			}
		}
		return false
	}
	if isRun(dir) {
		return []string{dir}
	}
	entries, _ := os.ReadDir(dir)
	var runs []string
	for _, e := range entries {
		if d := filepath.Join(dir, e.Name()); e.IsDir() && isRun(d) {
			runs = append(runs, d)
		}
	}
	return runs
}

// TestDuckDBReadsKilledRun checks the run folder SINKLAB_KILLED_RUN names: a
// `sinklab train` run with train.log_every=1 killed with SIGKILL part-way, as
// .ci/run makes one. DuckDB reads every part the run finished (the same
// values as parquet-go), the glob skips the part the kill left unfinished,
// and the finished rows are every step from 1 to the last one flushed, with
// the probe rows of every probe step up to it.
func TestDuckDBReadsKilledRun(t *testing.T) {
	run := os.Getenv("SINKLAB_KILLED_RUN")
	if run == "" {
		t.Skip("SINKLAB_KILLED_RUN not set (.ci/run sets it to a killed run folder)")
	}
	db := openDB(t)
	if kinds := checkRun(t, db, run); kinds != 3 {
		t.Fatalf("%s: %d of the 3 logs have finished parts", run, kinds)
	}
	var n, distinct, lo, hi int64
	q := "SELECT count(*), count(DISTINCT step), min(step), max(step) FROM " + glob(run, probes.MetricsDir)
	if err := db.QueryRow(q).Scan(&n, &distinct, &lo, &hi); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	if n != distinct || lo != 1 || hi != n {
		t.Fatalf("metrics: %d rows, %d distinct steps from %d to %d; want every step from 1 to the last", n, distinct, lo, hi)
	}
	var rc struct {
		Config struct {
			Probe struct {
				Every int64 `json:"every"`
			} `json:"probe"`
		} `json:"config"`
	}
	meta := kvMetadata(t, db, filepath.Join(run, probes.MetricsDir, "*.parquet"))
	for _, m := range meta {
		if err := json.Unmarshal([]byte(m[probes.MetaConfig]), &rc); err != nil {
			t.Fatalf("config metadata: %v", err)
		}
		break
	}
	if pe := rc.Config.Probe.Every; pe > 0 {
		ph := queryInt(t, db, "SELECT max(step) FROM "+glob(run, probes.ProbesDir))
		np := queryInt(t, db, "SELECT count(DISTINCT step) FROM "+glob(run, probes.ProbesDir))
		if ph < hi-hi%pe || np != ph/pe+1 {
			t.Fatalf("probes: %d steps up to %d; want every %dth step from 0 to at least %d", np, ph, pe, hi-hi%pe)
		}
	}
	tmp, _ := filepath.Glob(filepath.Join(run, "*", ".*.tmp"))
	t.Logf("%s: metrics steps 1–%d finished; %d unfinished parts left by the kill: %v", run, hi, len(tmp), tmp)
}

// checkReplicator compares the replicator columns (nullable) as DuckDB reads
// them with parquet-go's reading.
func checkReplicator(t *testing.T, db *sql.DB, src string, want []probes.HeadRow) {
	q := `SELECT bos_advantage, bos_drift, entropy_drift, predicted_winner, max_mass_key, grad_norm_scores
	      FROM ` + src + ` ORDER BY step, layer, head, "group"`
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	i := 0
	for ; rows.Next() && i < len(want); i++ {
		var adv, drift, ent, gn sql.NullFloat64
		var win, top sql.NullInt32
		if err := rows.Scan(&adv, &drift, &ent, &win, &top, &gn); err != nil {
			t.Fatal(err)
		}
		w := want[i]
		sameInt := func(a sql.NullInt32, b *int32) bool { return a.Valid == (b != nil) && (!a.Valid || a.Int32 == *b) }
		if !sameNull(adv, w.BOSAdvantage) || !sameNull(drift, w.BOSDrift) || !sameNull(ent, w.EntropyDrift) ||
			!sameNull(gn, w.GradNormScores) || !sameInt(win, w.PredictedWinner) || !sameInt(top, w.MaxMassKey) {
			t.Errorf("probes row %d replicator columns: DuckDB %v %v %v %v %v %v, parquet-go %+v", i, adv, drift, ent, win, top, gn, w)
		}
	}
}

// checkTheoryCheck compares theory_check.parquet as DuckDB reads it with
// parquet-go's reading, and checks it has one "run" row (layer −1) and one
// row per layer of the run's probes.
func checkTheoryCheck(t *testing.T, db *sql.DB, path, runDir string) {
	want, err := parquet.ReadFile[probes.TheoryCheckRow](path)
	if err != nil {
		t.Fatal(err)
	}
	q := `SELECT run_id, scope, layer, heads, final_step, early_until, bos_drift_pairs, bos_drift_agreement,
	             entropy_drift_pairs, entropy_drift_agreement, spearman_early_drift_final_mass, winner_agreement
	      FROM read_parquet(` + lit(path) + `) ORDER BY layer`
	rows, err := db.Query(q)
	if err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	defer rows.Close()
	var got []probes.TheoryCheckRow
	for rows.Next() {
		var r probes.TheoryCheckRow
		if err := rows.Scan(&r.RunID, &r.Scope, &r.Layer, &r.Heads, &r.FinalStep, &r.EarlyUntil, &r.BOSDriftPairs,
			&r.BOSDriftAgreement, &r.EntropyDriftPairs, &r.EntropyDriftAgreement, &r.SpearmanEarlyDriftFinalMass,
			&r.WinnerAgreement); err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	if len(got) != len(want) || len(got) < 2 || got[0].Scope != probes.ScopeRun || got[0].Layer != -1 {
		t.Fatalf("theory_check: DuckDB %+v, parquet-go %+v", got, want)
	}
	for i := range got {
		w, g := want[i], got[i]
		if g.RunID != w.RunID || g.Scope != w.Scope || g.Layer != w.Layer || g.Heads != w.Heads || g.BOSDriftPairs != w.BOSDriftPairs ||
			!sameFloat(g.BOSDriftAgreement, w.BOSDriftAgreement) || !sameFloat(g.EntropyDriftAgreement, w.EntropyDriftAgreement) ||
			!sameFloat(g.SpearmanEarlyDriftFinalMass, w.SpearmanEarlyDriftFinalMass) || !sameFloat(g.WinnerAgreement, w.WinnerAgreement) {
			t.Errorf("theory_check row %d: DuckDB %+v, parquet-go %+v", i, g, w)
		}
	}
	src := glob(runDir, probes.ProbesDir)
	if n := queryInt(t, db, "SELECT count(DISTINCT layer) FROM "+src+" WHERE bos_drift IS NOT NULL"); n != int64(len(got)-1) {
		t.Errorf("theory_check: %d layer rows, the probes have %d layers with replicator columns", len(got)-1, n)
	}
}
