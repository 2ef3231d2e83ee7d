package sweep

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const gridFile = `
name: demo
task: copy
base:
  model:
    d_model: 16
  optim.lr: 1e-3
grid:
  model.attention: [softmax, sigmoid-norm]
  model.n_heads: [1, 2, 4]
seeds: [7, 8]
slurm:
  partition: short
  time: "00:10:00"
  cpus_per_task: 2
  mem: 1G
  extra: ["--qos=low"]
`

func TestParseExpandsTheGrid(t *testing.T) {
	p, err := Parse([]byte(gridFile))
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "demo" || p.Task != "copy" {
		t.Fatalf("name %q task %q", p.Name, p.Task)
	}
	if want := []Param{{"model.d_model", "16"}, {"optim.lr", "1e-3"}}; !slices.Equal(p.Base, want) {
		t.Fatalf("base %v, want %v (file order, values as written)", p.Base, want)
	}
	if want := []string{"model.attention", "model.n_heads"}; !slices.Equal(p.Keys, want) {
		t.Fatalf("keys %v, want %v", p.Keys, want)
	}
	if want := (SlurmOptions{Partition: "short", Time: "00:10:00", CPUsPerTask: 2, Mem: "1G", Extra: []string{"--qos=low"}}); p.Slurm.Partition != want.Partition ||
		p.Slurm.Time != want.Time || p.Slurm.CPUsPerTask != 2 || p.Slurm.Mem != "1G" || !slices.Equal(p.Slurm.Extra, want.Extra) {
		t.Fatalf("slurm %+v, want %+v", p.Slurm, want)
	}
	if len(p.Cells) != 2*3*2 {
		t.Fatalf("%d cells, want 12", len(p.Cells))
	}
	// First key slowest, seed fastest.
	wantIDs := []string{
		"attention-softmax__n_heads-1__seed-7", "attention-softmax__n_heads-1__seed-8",
		"attention-softmax__n_heads-2__seed-7", "attention-softmax__n_heads-2__seed-8",
		"attention-softmax__n_heads-4__seed-7", "attention-softmax__n_heads-4__seed-8",
		"attention-sigmoid-norm__n_heads-1__seed-7", "attention-sigmoid-norm__n_heads-1__seed-8",
	}
	for i, id := range wantIDs {
		if c := p.Cells[i]; c.ID != id || c.Index != i {
			t.Errorf("cell %d: id %q index %d, want %q", i, c.ID, c.Index, id)
		}
	}
	c := p.Cells[9] // sigmoid-norm, 2 heads, seed 8
	wantSets := []string{"model.d_model=16", "optim.lr=1e-3", "model.attention=sigmoid-norm", "model.n_heads=2", "seed=8"}
	if !slices.Equal(c.Sets, wantSets) || c.Seed != 8 || c.Task != "copy" {
		t.Fatalf("cell 9: %+v, want sets %v", c, wantSets)
	}
	idPat := regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]*$`) // the train command's --run-id rule
	for _, c := range p.Cells {
		if !idPat.MatchString(c.ID) {
			t.Errorf("id %q is not a valid run id", c.ID)
		}
	}
}

func TestParseDefaults(t *testing.T) {
	p, err := Parse([]byte("grid:\n  model.n_heads: [1, 2]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Task != "induction" || !slices.Equal(p.Seeds, []uint64{1}) || len(p.Cells) != 2 || len(p.Base) != 0 {
		t.Fatalf("task %q seeds %v cells %d base %v", p.Task, p.Seeds, len(p.Cells), p.Base)
	}
	if p.Cells[1].ID != "n_heads-2__seed-1" {
		t.Fatalf("id %q", p.Cells[1].ID)
	}
	// No grid at all: one cell per seed.
	p, err = Parse([]byte("base: {train.steps: 3}\nseeds: [1, 2, 3]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Cells) != 3 || p.Cells[2].ID != "seed-3" || !slices.Equal(p.Cells[2].Sets, []string{"train.steps=3", "seed=3"}) {
		t.Fatalf("cells %+v", p.Cells)
	}
}

func TestParseTaskInGrid(t *testing.T) {
	p, err := Parse([]byte("grid:\n  task: [copy, zipf]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Cells[1].Task != "zipf" || p.Cells[1].ID != "task-zipf__seed-1" || slices.ContainsFunc(p.Cells[1].Sets, func(s string) bool {
		return strings.HasPrefix(s, "task=")
	}) {
		t.Fatalf("cell %+v", p.Cells[1])
	}
}

func TestParseRejectsBadFiles(t *testing.T) {
	tests := []struct {
		name, file, wantIn string
	}{
		{"empty", "", "empty"},
		{"unknown top-level key", "grids:\n  a: [1]\n", "field grids not found"},
		{"list in base", "base:\n  model.n_heads: [1, 2]\n", "lists belong in grid"},
		{"scalar in grid", "grid:\n  model.n_heads: 2\n", "want a list of values"},
		{"empty grid list", "grid:\n  model.n_heads: []\n", "empty list"},
		{"repeated value", "grid:\n  model.n_heads: [1, 1]\n", `lists "1" twice`},
		{"nested list item", "grid:\n  model.n_heads: [[1]]\n", "single values"},
		{"seed in grid", "grid:\n  seed: [1, 2]\n", "seeds:"},
		{"seed in base", "base:\n  seed: 3\n", "seeds:"},
		{"task in base", "base:\n  task: copy\n", "top-level task"},
		{"key in base and grid", "base:\n  model.n_heads: 2\ngrid:\n  model:\n    n_heads: [1]\n", "also set in base"},
		{"key twice after flattening", "base:\n  model.n_heads: 2\n  model: {n_heads: 4}\n", "given twice"},
		{"null value", "base:\n  model.n_heads:\n", "has no value"},
		{"bad key", "base:\n  'model n_heads': 2\n", "not a config key"},
		{"negative seed", "seeds: [-1]\n", "negative"},
		{"repeated seed", "seeds: [3, 3]\n", "listed twice"},
		{"empty seeds", "seeds: []\n", "empty list"},
		{"non-integer seed", "seeds: [one]\n", "seeds"},
		{"bad name", "name: 'my sweep'\n", "name"},
		{"shell characters in slurm", "slurm:\n  partition: 'a b'\n", "partition"},
		{"bad slurm extra", "slurm:\n  extra: [qos]\n", "extra option"},
		{"base not a mapping", "base: [1, 2]\n", "mapping"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.file))
			if err == nil || !strings.Contains(err.Error(), tc.wantIn) {
				t.Fatalf("error %v, want one containing %q", err, tc.wantIn)
			}
		})
	}
}

func TestCellIDs(t *testing.T) {
	tests := []struct {
		name    string
		grid    string
		wantRe  string
		similar string // a second grid value whose id must differ
	}{
		{"plain", "model.attention: [elu-norm]", `^attention-elu-norm__seed-1$`, ""},
		{"number", "optim.lr: [1e-3]", `^lr-1e-3__seed-1$`, ""},
		{"unsafe characters get a hash", "data.text: ['a/b c']", `^text-a_b_c__seed-1__h[0-9a-f]{8}$`, "a_b_c"},
		{"double underscore gets a hash", "data.text: ['a__b']", `^text-a_b__seed-1__h[0-9a-f]{8}$`, "a_b"},
		{"long id is cut and hashed", "data.text: ['" + strings.Repeat("x", 200) + "']", `^text-x{80,}__h[0-9a-f]{8}$`, strings.Repeat("x", 201)},
		{"ambiguous short names use the full key", "optim.eps: [1e-8]\n  probe.eps: [0.3]", `^optim.eps-1e-8__probe.eps-0.3__seed-1$`, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Parse([]byte("grid:\n  " + tc.grid + "\n"))
			if err != nil {
				t.Fatal(err)
			}
			id := p.Cells[0].ID
			if !regexp.MustCompile(tc.wantRe).MatchString(id) {
				t.Fatalf("id %q does not match %s", id, tc.wantRe)
			}
			if len(id) > 120 {
				t.Fatalf("id %q is %d bytes long", id, len(id))
			}
			again, _ := Parse([]byte("grid:\n  " + tc.grid + "\n"))
			if again.Cells[0].ID != id {
				t.Fatalf("id not stable: %q then %q", id, again.Cells[0].ID)
			}
			if tc.similar != "" {
				key, _, _ := strings.Cut(tc.grid, ":")
				q, err := Parse([]byte("grid:\n  " + key + ": ['" + tc.similar + "']\n"))
				if err != nil {
					t.Fatal(err)
				}
				if q.Cells[0].ID == id {
					t.Fatalf("values %s and %q share the id %q", tc.grid, tc.similar, id)
				}
			}
		})
	}
}

func TestLoadNamesPlanAfterFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "heads.yaml")
	if err := os.WriteFile(path, []byte("grid:\n  model.n_heads: [1]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, err := Load(path)
	if err != nil || p.Name != "heads" {
		t.Fatalf("Load: %v, name %q", err, p.Name)
	}
	if _, err := Load(filepath.Join(dir, "missing.yaml")); err == nil {
		t.Fatal("Load of a missing file: no error")
	}
}

func TestParseVariants(t *testing.T) {
	p, err := Parse([]byte(`
task: text
base:
  train.steps: 40
variants:
  softmax: {}
  gate-head: {model.gate: head}
  both:
    model: {sink_logit: true, kv_bias: true}
grid:
  model.n_heads: [1, 4]
seeds: [3]
`))
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{VariantKey, "model.n_heads"}; !slices.Equal(p.Keys, want) {
		t.Fatalf("keys %v, want %v", p.Keys, want)
	}
	want := []struct {
		id   string
		sets []string
	}{
		{"variant-softmax__n_heads-1__seed-3", []string{"train.steps=40", "model.n_heads=1", "seed=3"}},
		{"variant-softmax__n_heads-4__seed-3", []string{"train.steps=40", "model.n_heads=4", "seed=3"}},
		{"variant-gate-head__n_heads-1__seed-3", []string{"train.steps=40", "model.gate=head", "model.n_heads=1", "seed=3"}},
		{"variant-gate-head__n_heads-4__seed-3", []string{"train.steps=40", "model.gate=head", "model.n_heads=4", "seed=3"}},
		{"variant-both__n_heads-1__seed-3", []string{"train.steps=40", "model.sink_logit=true", "model.kv_bias=true", "model.n_heads=1", "seed=3"}},
		{"variant-both__n_heads-4__seed-3", []string{"train.steps=40", "model.sink_logit=true", "model.kv_bias=true", "model.n_heads=4", "seed=3"}},
	}
	if len(p.Cells) != len(want) {
		t.Fatalf("%d cells, want %d", len(p.Cells), len(want))
	}
	for i, w := range want {
		c := p.Cells[i]
		if c.ID != w.id || !slices.Equal(c.Sets, w.sets) || c.Task != "text" {
			t.Errorf("cell %d: id %q sets %v task %s, want %q %v text", i, c.ID, c.Sets, c.Task, w.id, w.sets)
		}
		if v := []string{"softmax", "gate-head", "both"}[i/2]; c.Params[0] != (Param{VariantKey, v}) {
			t.Errorf("cell %d: params %v, want variant %s first", i, c.Params, v)
		}
	}
}

func TestParseVariantsRejects(t *testing.T) {
	for name, tc := range map[string]struct{ file, want string }{
		"clash with base":  {"base: {model.gate: head}\nvariants:\n  g: {model.gate: elementwise}\n", `key "model.gate" is also set in base`},
		"clash with grid":  {"grid: {model.gate: [head]}\nvariants:\n  g: {model.gate: elementwise}\n", `key "model.gate" is also set in grid`},
		"bad name":         {"variants:\n  a/b: {model.gate: head}\n", `variant name "a/b"`},
		"double name":      {"variants:\n  a: {model.gate: head}\n  a: {}\n", `variant "a" is listed twice`},
		"list value":       {"variants:\n  a: {model.n_heads: [1, 2]}\n", "lists belong in grid"},
		"seed":             {"variants:\n  a: {seed: 2}\n", "seed cannot be set by a variant"},
		"not a mapping":    {"variants: [a, b]\n", "want a mapping of variant names"},
		"empty":            {"variants: {}\n", "empty mapping"},
		"variant grid key": {"grid: {variant: [x]}\nvariants:\n  a: {}\n", `"variant" is the column of variants`},
	} {
		_, err := Parse([]byte(tc.file))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", name, err, tc.want)
		}
	}
}
