package data

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// newRNG returns the seeded generator the tests fill batches with.
func newRNG(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x5eed)) }

// mustNew builds a task from its defaults, changed by edit (may be nil).
func mustNew(t testing.TB, name string, edit func(*Config), seed uint64) Task {
	t.Helper()
	c, err := DefaultConfig(name)
	if err != nil {
		t.Fatalf("DefaultConfig(%q): %v", name, err)
	}
	c.EvalSize = 64 // keep construction cheap; tests that need more set it
	if edit != nil {
		edit(&c)
	}
	task, err := New(name, c, seed)
	if err != nil {
		t.Fatalf("New(%q): %v", name, err)
	}
	return task
}

// fill draws one batch of b sequences.
func fill(task Task, rng *rand.Rand, b int) *Batch {
	batch := NewBatch(b, task.SeqLen())
	task.Fill(rng, batch)
	return batch
}

func batchesEqual(a, b *Batch) bool {
	return a.B == b.B && a.T == b.T && slices.Equal(a.Inputs, b.Inputs) && slices.Equal(a.Targets, b.Targets) &&
		slices.Equal(a.Mask, b.Mask) && slices.Equal(a.Score, b.Score) && slices.Equal(a.Group, b.Group)
}

// rowKey identifies sequence i of a batch by its inputs, targets and mask.
func rowKey(b *Batch, i int) string {
	r := batchRow(b, i)
	return fmt.Sprint(r.in, r.tgt, r.mask, r.score, r.group)
}

// maskSum is the expected Σ mask of one sequence of each task (loss contract).
func maskSum(name string) float64 {
	if name == TaskInduction {
		return 1.2
	}
	return 1
}

// checkCommon checks what holds for every task: ids in range, groups in
// range, mask ≥ 0 with the task's per-sequence sum, score only where trained.
func checkCommon(t *testing.T, task Task, b *Batch, wantMaskSum float64) {
	t.Helper()
	ng := len(task.Groups())
	for i := 0; i < b.B; i++ {
		r := batchRow(b, i)
		var s float64
		for p := 0; p < b.T; p++ {
			if r.in[p] < 0 || int(r.in[p]) >= task.Vocab() || r.tgt[p] < 0 || int(r.tgt[p]) >= task.Vocab() {
				t.Fatalf("row %d pos %d: ids (%d, %d) outside [0, %d)", i, p, r.in[p], r.tgt[p], task.Vocab())
			}
			if int(r.group[p]) >= ng {
				t.Fatalf("row %d pos %d: group %d ≥ %d", i, p, r.group[p], ng)
			}
			if r.mask[p] < 0 || (r.score[p] && r.mask[p] == 0) {
				t.Fatalf("row %d pos %d: mask %v score %v", i, p, r.mask[p], r.score[p])
			}
			s += float64(r.mask[p])
		}
		if math.Abs(s-wantMaskSum) > 1e-5 {
			t.Fatalf("row %d: Σ mask = %v, want %v", i, s, wantMaskSum)
		}
	}
}

func TestRegistry(t *testing.T) {
	names := Names()
	want := []string{"induction", "classification", "bigram-backcopy", "copy", "zipf", "text"}
	if !slices.Equal(names, want) {
		t.Fatalf("Names() = %v, want %v", names, want)
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			if d := Describe(name); d == "" || strings.Contains(d, "\n") {
				t.Errorf("Describe(%q) = %q, want one non-empty line", name, d)
			}
			c, err := DefaultConfig(name)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Validate(name); err != nil {
				t.Fatalf("default config invalid: %v", err)
			}
			task := mustNew(t, name, nil, 1)
			if task.Name() != name {
				t.Errorf("Name() = %q", task.Name())
			}
			if g := task.Groups(); len(g) == 0 {
				t.Errorf("Groups() empty")
			}
			checkCommon(t, task, fill(task, newRNG(1), 64), maskSum(name))
		})
	}
	if Describe("nope") != "" {
		t.Errorf("Describe of an unknown task is not empty")
	}
	_, err := New("nope", Config{}, 1)
	if err == nil {
		t.Fatal("New(nope) succeeded")
	}
	for _, name := range names {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not list %q", err, name)
		}
	}
}

// TestDefaultShapes pins the sizes the defaults must give (SCIENCE.md §2, §4).
func TestDefaultShapes(t *testing.T) {
	for _, tc := range []struct {
		name          string
		vocab, seqLen int
		causal        bool
		groups        []string
	}{
		{TaskInduction, 100, 12, true, []string{"all"}},
		{TaskClassification, 41, 11, false, []string{"all"}},
		{TaskBackcopy, 92, 256, true, []string{"non-trigger", "trigger"}}, // Opticks: 91 characters + BOS
		{TaskCopy, 64, 33, true, []string{"all"}},
		{TaskZipf, 64, 64, true, []string{"all"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			task := mustNew(t, tc.name, nil, 1)
			if task.Vocab() != tc.vocab || task.SeqLen() != tc.seqLen || task.Causal() != tc.causal ||
				!slices.Equal(task.Groups(), tc.groups) {
				t.Errorf("got vocab %d T %d causal %v groups %v, want %d %d %v %v", task.Vocab(), task.SeqLen(),
					task.Causal(), task.Groups(), tc.vocab, tc.seqLen, tc.causal, tc.groups)
			}
		})
	}
}

// taskCase is one task in one mode, for tests run over every task.
type taskCase struct {
	label, name string
	edit        func(*Config)
}

// allTasks lists every task in on-the-fly and pool mode.
func allTasks() []taskCase {
	var out []taskCase
	for _, name := range Names() {
		out = append(out, taskCase{name, name, nil}, taskCase{name + "/pool", name, func(c *Config) { c.Pool = 300 }})
	}
	return out
}

func TestDeterminism(t *testing.T) {
	for _, tc := range allTasks() {
		t.Run(tc.label, func(t *testing.T) {
			a := mustNew(t, tc.name, tc.edit, 7)
			b := mustNew(t, tc.name, tc.edit, 7)
			// Draw from a after other draws: a row depends only on the rng state.
			fill(a, newRNG(99), 5)
			x := fill(a, newRNG(3), 32)
			y := fill(b, newRNG(3), 32)
			if !batchesEqual(x, y) {
				t.Fatal("same task seed and rng seed gave different batches")
			}
			if z := fill(b, newRNG(4), 32); slices.Equal(x.Inputs, z.Inputs) {
				t.Fatal("different rng seeds gave the same inputs")
			}
			// Writing over a used batch gives the same result as a fresh one.
			dirty := NewBatch(32, a.SeqLen())
			for i := range dirty.Inputs {
				dirty.Inputs[i], dirty.Targets[i], dirty.Mask[i], dirty.Score[i], dirty.Group[i] = -5, -5, 7, true, 9
			}
			a.Fill(newRNG(3), dirty)
			if !batchesEqual(x, dirty) {
				t.Fatal("Fill did not overwrite every field of a used batch")
			}
		})
	}
}

func TestEval(t *testing.T) {
	for _, tc := range allTasks() {
		t.Run(tc.label, func(t *testing.T) {
			edit := func(c *Config) {
				if tc.edit != nil {
					tc.edit(c)
				}
				c.EvalSize = 100
			}
			task := mustNew(t, tc.name, edit, 11)
			e1 := task.Eval(32)
			if len(e1) != 4 || e1[0].B != 32 || e1[3].B != 4 {
				t.Fatalf("Eval(32) of 100 gave %d batches", len(e1))
			}
			fill(task, newRNG(1), 8) // training draws do not change the eval set
			e1[0].Inputs[0] = -1     // nor do changes to a returned batch
			e2 := task.Eval(32)
			e1[0].Inputs[0] = e2[0].Inputs[0]
			for i := range e1 {
				if !batchesEqual(e1[i], e2[i]) {
					t.Fatalf("Eval batch %d differs between calls", i)
				}
			}
			whole := task.Eval(1000)
			if len(whole) != 1 || whole[0].B != 100 {
				t.Fatalf("Eval(1000) gave %d batches", len(whole))
			}
			var keys []string
			for _, b := range e1 {
				for i := 0; i < b.B; i++ {
					keys = append(keys, rowKey(b, i))
				}
			}
			for i := 0; i < 100; i++ {
				if keys[i] != rowKey(whole[0], i) {
					t.Fatalf("sequence %d differs between Eval(32) and Eval(1000)", i)
				}
			}
			checkCommon(t, task, whole[0], maskSum(tc.name))
			if same := mustNew(t, tc.name, edit, 11).Eval(1000)[0]; !batchesEqual(same, whole[0]) {
				t.Fatal("same task seed gave a different eval set")
			}
			if other := mustNew(t, tc.name, edit, 12).Eval(1000)[0]; slices.Equal(other.Inputs, whole[0].Inputs) {
				t.Fatal("different task seeds gave the same eval set")
			}
		})
	}
	if n := len(mustNew(t, TaskZipf, func(c *Config) { c.EvalSize = 0 }, 1).Eval(8)); n != 0 {
		t.Errorf("eval_size 0 gave %d batches", n)
	}
}

func TestFillAllocs(t *testing.T) {
	for _, tc := range allTasks() {
		t.Run(tc.label, func(t *testing.T) {
			task := mustNew(t, tc.name, tc.edit, 1)
			rng := newRNG(1)
			b := NewBatch(16, task.SeqLen())
			if n := testing.AllocsPerRun(20, func() { task.Fill(rng, b) }); n != 0 {
				t.Errorf("Fill allocates %v times per call", n)
			}
		})
	}
}

func TestFillShapeMismatchPanics(t *testing.T) {
	task := mustNew(t, TaskInduction, nil, 1)
	for _, b := range []*Batch{NewBatch(4, 13), {B: 4, T: 12, Inputs: make([]int32, 48)}} {
		func() {
			defer func() {
				if r := recover(); r == nil || !strings.HasPrefix(fmt.Sprint(r), "data: ") {
					t.Errorf("Fill on a (B=%d, T=%d) batch: recover() = %v, want a data: panic", b.B, b.T, r)
				}
			}()
			task.Fill(newRNG(1), b)
		}()
	}
}

func BenchmarkFillInduction(b *testing.B) { benchFill(b, TaskInduction, nil, 256) }
func BenchmarkFillBackcopy(b *testing.B)  { benchFill(b, TaskBackcopy, nil, 16) }
func BenchmarkFillInductionPool(b *testing.B) {
	benchFill(b, TaskInduction, func(c *Config) { c.Pool = 100000 }, 256)
}

func benchFill(b *testing.B, name string, edit func(*Config), size int) {
	task := mustNew(b, name, edit, 1)
	rng := newRNG(1)
	batch := NewBatch(size, task.SeqLen())
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		task.Fill(rng, batch)
	}
	b.ReportMetric(float64(b.N)*float64(size*task.SeqLen())/b.Elapsed().Seconds(), "tokens/s")
}

// ExampleNew builds the induction task from its defaults and fills a batch.
func ExampleNew() {
	cfg, err := DefaultConfig("induction")
	if err != nil {
		panic(err)
	}
	task, err := New("induction", cfg, 1)
	if err != nil {
		panic(err)
	}
	b := NewBatch(256, task.SeqLen()) // (B, T)
	task.Fill(rand.New(rand.NewPCG(1, 2)), b)
	var mask float32
	for _, m := range b.Mask[:b.T] {
		mask += m
	}
	fmt.Printf("%s: vocab %d, T %d, Σ mask per sequence %.1f, scored position %v\n",
		task.Name(), task.Vocab(), task.SeqLen(), mask, b.Score[b.T-1])
	// Output: induction: vocab 100, T 12, Σ mask per sequence 1.2, scored position true
}
