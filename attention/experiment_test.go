package attention

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

func TestDefaultConfigsArePapers(t *testing.T) {
	tests := []struct {
		name       string
		loss, norm []string
		n, d       int
		lr         []float64
		steps      []int64
		vScale     float64
		aMean      float64
		aScale     float64
		variants   int
	}{
		{"logistic", []string{"logistic"}, []string{"softmax"}, 8, 8, []float64{0.1}, []int64{1e6}, 0.1, 0, 0, 1},
		{"normalizers", []string{"square", "logistic"}, NormalizerNames(), 10, 10, []float64{0.1, 0.5}, []int64{5000, 1e5}, 0.1, 1, 0.1, 14},
		{"regression", []string{"regression"}, []string{"softmax"}, 20, 20, []float64{1e-3}, []int64{3e5}, 1e-5, 0, 1e-3, 5},
		{"cross-entropy", []string{"cross-entropy"}, []string{"softmax"}, 10, 8, []float64{0.1}, []int64{3e6}, 0.1, 0, 0, 1},
		{"tied", []string{"tied"}, []string{"softmax"}, 8, 8, []float64{0.05}, []int64{1e4}, 0, 1, 0.1, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := DefaultExperimentConfig(tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Validate(); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(c.Loss, tc.loss) || !slices.Equal(c.Normalizer, tc.norm) || c.N != tc.n || c.D != tc.d ||
				!slices.Equal(c.LR, tc.lr) || !slices.Equal(c.Steps, tc.steps) || c.VScale != tc.vScale ||
				c.AMean != tc.aMean || c.AScale != tc.aScale {
				t.Errorf("got: %+v", c)
			}
			vs, err := c.ToyVariants()
			if err != nil || len(vs) != tc.variants {
				t.Fatalf("%d variants (err %v), want %d", len(vs), err, tc.variants)
			}
		})
	}
	e3, _ := DefaultExperimentConfig("regression")
	if e3.M != 20 || !slices.Equal(e3.Kappa, []float64{1, 2, 3, 4, 5}) {
		t.Errorf("E3: m=%d kappa=%v", e3.M, e3.Kappa)
	}
	e4, _ := DefaultExperimentConfig("cross-entropy")
	if e4.K != 10 {
		t.Errorf("E4: k=%d", e4.K)
	}
	e5, _ := DefaultExperimentConfig("tied")
	if !slices.Equal(e5.TiedDims, []int{10, 20, 50, 100}) {
		t.Errorf("E5: D=%v", e5.TiedDims)
	}
	if _, err := DefaultExperimentConfig("logistics"); err == nil || !strings.Contains(err.Error(), "cross-entropy") {
		t.Errorf("unknown experiment: err %v should list the valid names", err)
	}
}

func TestVariantsOfNormalizers(t *testing.T) {
	c, _ := DefaultExperimentConfig("normalizers")
	vs, err := c.ToyVariants()
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range vs {
		loss, norm, _ := strings.Cut(v.Name, "/")
		want := map[string]struct {
			lr    float64
			steps int64
		}{"square": {0.1, 5000}, "logistic": {0.5, 100000}}[loss]
		if v.LR != want.lr || v.Steps != want.steps || v.Spec.Loss.String() != loss || v.Spec.Norm.Name() != norm {
			t.Errorf("%s: lr %v steps %d loss %v norm %v", v.Name, v.LR, v.Steps, v.Spec.Loss, v.Spec.Norm.Name())
		}
	}
	c.Set("kappa", "2,4")
	c.Set("loss", "regression,tied")
	c.Set("D", "3,5")
	c.Set("normalizer", "softmax")
	c.Set("lr", "0.1")
	c.Set("steps", "1e3")
	vs, err = c.ToyVariants()
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, v := range vs {
		names = append(names, v.Name)
	}
	want := []string{"regression/softmax/kappa=2", "regression/softmax/kappa=4", "tied/softmax/D=3", "tied/softmax/D=5"}
	if !slices.Equal(names, want) {
		t.Errorf("got: %v want: %v", names, want)
	}
	if vs[3].Spec.N != 5 || vs[3].Spec.D != 5 || vs[1].Spec.Kappa != 4 || vs[1].Spec.M != c.M {
		t.Errorf("shapes not carried: %+v", vs)
	}
}

func TestConfigSet(t *testing.T) {
	c, _ := DefaultExperimentConfig("logistic")
	for _, kv := range [][2]string{
		{"steps", "1e6"}, {"n", "12"}, {"d", "3"}, {"m", "4"}, {"k", "5"}, {"D", "10, 20"}, {"kappa", "1,2.5"},
		{"lr", "0.25"}, {"seed", "7"}, {"v_scale", "0.5"}, {"a_mean", "-1"}, {"a_scale", "0.2"},
		{"per_decade", "10"}, {"flow", "true"}, {"flow_rtol", "1e-8"}, {"flow_atol", "1e-9"},
		{"flow_max_steps", "1e4"}, {"engine", "gorgonia"}, {"loss", "square,logistic"}, {"normalizer", "l1,relu"},
	} {
		if err := c.Set(kv[0], kv[1]); err != nil {
			t.Fatalf("Set(%q, %q): %v", kv[0], kv[1], err)
		}
	}
	want := ExperimentConfig{Experiment: "logistic", Loss: []string{"square", "logistic"}, Normalizer: []string{"l1", "relu"},
		N: 12, D: 3, M: 4, K: 5, TiedDims: []int{10, 20}, Kappa: []float64{1, 2.5}, LR: []float64{0.25},
		Steps: []int64{1000000}, Seed: 7, VScale: 0.5, AMean: -1, AScale: 0.2, PerDecade: 10, Flow: true,
		FlowRTol: 1e-8, FlowATol: 1e-9, FlowMaxSteps: 10000, Engine: "gorgonia"}
	if !configEqual(c, want) {
		t.Errorf("got: %+v\nwant: %+v", c, want)
	}
	if err := c.Validate(); err != nil {
		t.Error(err)
	}
	// every key in ExperimentConfigKeys is settable
	for _, k := range ExperimentConfigKeys() {
		err := c.Set(k, "")
		if err != nil && strings.Contains(err.Error(), "unknown config key") {
			t.Errorf("key %q listed but unknown", k)
		}
	}
}

func configEqual(a, b ExperimentConfig) bool {
	return a.Experiment == b.Experiment && slices.Equal(a.Loss, b.Loss) && slices.Equal(a.Normalizer, b.Normalizer) &&
		a.N == b.N && a.D == b.D && a.M == b.M && a.K == b.K && slices.Equal(a.TiedDims, b.TiedDims) &&
		slices.Equal(a.Kappa, b.Kappa) && slices.Equal(a.LR, b.LR) && slices.Equal(a.Steps, b.Steps) &&
		a.Seed == b.Seed && a.VScale == b.VScale && a.AMean == b.AMean && a.AScale == b.AScale &&
		a.PerDecade == b.PerDecade && a.Flow == b.Flow && a.FlowRTol == b.FlowRTol && a.FlowATol == b.FlowATol &&
		a.FlowMaxSteps == b.FlowMaxSteps && a.Engine == b.Engine
}

func TestConfigSetErrors(t *testing.T) {
	tests := []struct{ key, value, wantIn string }{
		{"nn", "3", "valid keys: loss, normalizer, n, d"},
		{"steps", "1.5e3x", "steps"},
		{"steps", "1.5", "not an integer"},
		{"n", "two", "not an integer"},
		{"lr", "nan", "not a finite number"},
		{"kappa", "1,,2", "empty item"},
		{"seed", "-1", "negative"},
		{"flow", "maybe", "true or false"},
	}
	for _, tc := range tests {
		c, _ := DefaultExperimentConfig("logistic")
		err := c.Set(tc.key, tc.value)
		if err == nil || !strings.Contains(err.Error(), tc.wantIn) {
			t.Errorf("Set(%q, %q) = %v, want an error containing %q", tc.key, tc.value, err, tc.wantIn)
		}
	}
	c, _ := DefaultExperimentConfig("logistic")
	err := c.Set("nn", "3")
	if !strings.Contains(err.Error(), `"nn"`) {
		t.Errorf("error %q does not name the key", err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		sets   [][2]string
		wantIn string
	}{
		{[][2]string{{"n", "1"}}, "n must be at least 2"},
		{[][2]string{{"lr", "0"}}, "lr must be finite and > 0"},
		{[][2]string{{"lr", "-0.1"}}, "lr must be"},
		{[][2]string{{"steps", "0"}}, "steps must be at least 1"},
		{[][2]string{{"loss", "hinge"}}, "unknown loss"},
		{[][2]string{{"normalizer", "softmin"}}, "unknown normalizer"},
		{[][2]string{{"normalizer", "l1,l1"}}, "listed twice"},
		{[][2]string{{"lr", "0.1,0.2"}}, "lr has 2 values"},
		{[][2]string{{"loss", "square,logistic"}, {"steps", "1,2,3"}}, "steps has 3 values"},
		{[][2]string{{"loss", "regression"}, {"kappa", "0.5"}}, "kappa must be"},
		{[][2]string{{"loss", "tied"}, {"D", "1"}}, "D must be in 2…10000"},
		{[][2]string{{"loss", "tied"}, {"D", "10,1e5"}}, "D must be in"},
		{[][2]string{{"n", "1e9"}}, "n = 1000000000 is larger than 10000"},
		{[][2]string{{"loss", "cross-entropy"}, {"k", "1"}}, "k must be at least 2"},
		{[][2]string{{"engine", "torch"}}, "engine"},
		{[][2]string{{"v_scale", "-1"}}, "v_scale"},
		{[][2]string{{"per_decade", "0"}}, "per_decade"},
		{[][2]string{{"flow_rtol", "0"}}, "tolerances"},
		{[][2]string{{"flow_max_steps", "0"}}, "flow_max_steps"},
	}
	for _, tc := range tests {
		c, _ := DefaultExperimentConfig("logistic")
		for _, kv := range tc.sets {
			if err := c.Set(kv[0], kv[1]); err != nil {
				t.Fatal(err)
			}
		}
		err := c.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.wantIn) {
			t.Errorf("%v: Validate() = %v, want an error containing %q", tc.sets, err, tc.wantIn)
		}
		if _, verr := c.ToyVariants(); verr == nil {
			t.Errorf("%v: Variants accepted an invalid config", tc.sets)
		}
	}
}

func TestRecordSteps(t *testing.T) {
	for _, tc := range []struct {
		total     int64
		perDecade int
		wantLen   int
	}{
		{1, 20, 2}, {10, 20, 11}, {1_000_000, 20, 0}, {3_000_000, 20, 0}, {5000, 5, 0},
	} {
		s := RecordSteps(tc.total, tc.perDecade)
		if s[0] != 0 || s[len(s)-1] != tc.total {
			t.Errorf("RecordSteps(%d): first %d last %d", tc.total, s[0], s[len(s)-1])
		}
		for i := 1; i < len(s); i++ {
			if s[i] <= s[i-1] {
				t.Fatalf("RecordSteps(%d) not increasing at %d: %v", tc.total, i, s)
			}
		}
		if tc.wantLen > 0 && len(s) != tc.wantLen {
			t.Errorf("RecordSteps(%d) = %v, want %d steps", tc.total, s, tc.wantLen)
		}
		// about perDecade points in the last full decade
		if tc.total >= 1000 {
			n := 0
			top := tc.total
			for top%10 == 0 && top > 1 {
				top /= 10
			}
			hi := int64(math.Pow(10, math.Floor(math.Log10(float64(tc.total)))))
			for _, x := range s {
				if x >= hi/10 && x < hi {
					n++
				}
			}
			if n != tc.perDecade {
				t.Errorf("RecordSteps(%d, %d): %d points in [%d, %d)", tc.total, tc.perDecade, n, hi/10, hi)
			}
		}
	}
}

func shortConfig(t *testing.T, experiment string, sets ...string) ExperimentConfig {
	t.Helper()
	c, err := DefaultExperimentConfig(experiment)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(sets); i += 2 {
		if err := c.Set(sets[i], sets[i+1]); err != nil {
			t.Fatal(err)
		}
	}
	return c
}

func collect(t *testing.T, c ExperimentConfig) ([]TheoryRecord, []VariantSummary, error) {
	t.Helper()
	var recs []TheoryRecord
	sums, err := RunExperiment(context.Background(), c, ExperimentHooks{Record: func(r TheoryRecord) error { recs = append(recs, r); return nil }})
	return recs, sums, err
}

func TestRunRecords(t *testing.T) {
	for _, exp := range ExperimentNames() {
		t.Run(exp, func(t *testing.T) {
			c := shortConfig(t, exp, "steps", "300", "D", "4,6")
			recs, sums, err := collect(t, c)
			if err != nil {
				t.Fatal(err)
			}
			vs, _ := c.ToyVariants()
			steps := RecordSteps(300, c.PerDecade)
			if len(recs) != len(vs)*len(steps) || len(sums) != len(vs) {
				t.Fatalf("%d records, %d summaries for %d variants × %d steps", len(recs), len(sums), len(vs), len(steps))
			}
			for i, r := range recs {
				v := vs[i/len(steps)]
				if r.Variant != v.Name || r.Step != steps[i%len(steps)] || r.Time != float64(r.Step)*v.LR {
					t.Fatalf("record %d: %s step %d time %v", i, r.Variant, r.Step, r.Time)
				}
				if len(r.Weights) != v.Spec.N && !(v.Spec.Loss == Tied && len(r.Weights) == v.Spec.D) {
					t.Fatalf("record %d: %d weights", i, len(r.Weights))
				}
				if (v.Spec.Loss == Logistic) != (r.U != nil) || (v.Spec.Loss == Tied) != r.HasColumns || r.HasFlow {
					t.Fatalf("record %d (%s): U %v, columns %v, flow %v", i, v.Name, r.U, r.HasColumns, r.HasFlow)
				}
				if math.IsNaN(r.Loss) || math.IsNaN(r.Entropy) {
					t.Fatalf("record %d: NaN", i)
				}
				if v.Spec.Norm.Name() == "softmax" && v.Spec.Loss != Tied && v.Spec.Loss != Logistic && r.Drift > 1e-12 {
					t.Errorf("record %d (%s): Σa drift %v", i, v.Name, r.Drift)
				}
				if v.Spec.Loss == Logistic && r.Drift > 1e-12 {
					t.Errorf("record %d (%s): (I−ββᵀ)V drift %v", i, v.Name, r.Drift)
				}
			}
			first, last := recs[0], recs[len(steps)-1]
			if sums[0].InitialEntropy != first.Entropy || sums[0].FinalEntropy != last.Entropy ||
				sums[0].Winner != last.Argmax || !math.IsNaN(sums[0].MaxFlowGap) {
				t.Errorf("summary %+v does not match records %+v … %+v", sums[0], first, last)
			}
			if last.Loss >= first.Loss {
				t.Errorf("%s: loss did not decrease: %v → %v", first.Variant, first.Loss, last.Loss)
			}
		})
	}
}

func TestRunDeterministic(t *testing.T) {
	c := shortConfig(t, "normalizers", "steps", "100", "normalizer", "softmax,l2")
	a, _, err := collect(t, c)
	if err != nil {
		t.Fatal(err)
	}
	b, _, _ := collect(t, c)
	for i := range a {
		if a[i].Loss != b[i].Loss || !slices.Equal(a[i].Weights, b[i].Weights) {
			t.Fatalf("record %d differs between runs with one seed", i)
		}
	}
	c.Set("seed", "1")
	d, _, _ := collect(t, c)
	if d[0].Loss == a[0].Loss {
		t.Error("another seed gave the same initial loss")
	}
}

// The E1 model with lr 1e-3: gradient descent tracks the exact flow recorded
// beside it, |entropy − flow_entropy| ≤ 1e-3 over t ≤ 100.
func TestRunFlowTracksGradientDescent(t *testing.T) {
	c := shortConfig(t, "logistic", "lr", "1e-3", "steps", "1e5", "v_scale", "1")
	c.Flow = true
	recs, sums, err := collect(t, c)
	if err != nil {
		t.Fatal(err)
	}
	gap := 0.0
	for _, r := range recs {
		if !r.HasFlow {
			t.Fatalf("step %d: no flow values", r.Step)
		}
		gap = max(gap, math.Abs(r.Entropy-r.FlowEntropy))
	}
	if gap > 1e-3 || sums[0].MaxFlowGap != gap {
		t.Errorf("max gap %v, summary %v", gap, sums[0].MaxFlowGap)
	}
	if recs[0].Entropy-recs[len(recs)-1].Entropy < 0.5 {
		t.Errorf("entropy barely moved (%v → %v)", recs[0].Entropy, recs[len(recs)-1].Entropy)
	}
	// a coarse step does not track the flow
	c2 := shortConfig(t, "logistic", "lr", "5", "steps", "20", "v_scale", "1")
	c2.Flow = true
	_, sums2, err := collect(t, c2)
	if err != nil {
		t.Fatal(err)
	}
	if !(sums2[0].MaxFlowGap > 1e-2) {
		t.Errorf("lr 5: flow gap %v, expected GD to leave the flow", sums2[0].MaxFlowGap)
	}
}

func TestRunDiverges(t *testing.T) {
	c := shortConfig(t, "normalizers", "loss", "square", "normalizer", "softmax", "lr", "1e3", "steps", "10000")
	recs, _, err := collect(t, c)
	var de *DivergedError
	if !errors.As(err, &de) {
		t.Fatalf("want a DivergedError, got %v", err)
	}
	if de.Step < 1 || de.Step >= 10000 || !strings.Contains(err.Error(), "diverged at step") {
		t.Errorf("error %v", err)
	}
	if len(recs) == 0 || recs[len(recs)-1].Step > de.Step {
		t.Errorf("%d records, last at step %d, diverged at %d", len(recs), recs[len(recs)-1].Step, de.Step)
	}
}

func TestRunCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	c := shortConfig(t, "logistic", "steps", "200000")
	n := 0
	_, err := RunExperiment(ctx, c, ExperimentHooks{Record: func(TheoryRecord) error { n++; return nil }})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
	if n > 0 {
		t.Errorf("%d records after cancellation", n)
	}
}

func TestRunGorgoniaEngineMatchesClosed(t *testing.T) {
	for _, exp := range []string{"logistic", "tied"} {
		c := shortConfig(t, exp, "steps", "200", "D", "5")
		closed, _, err := collect(t, c)
		if err != nil {
			t.Fatal(err)
		}
		c.Engine = "gorgonia"
		gg, _, err := collect(t, c)
		if err != nil {
			t.Fatal(err)
		}
		if len(gg) != len(closed) {
			t.Fatalf("%s: %d records vs %d", exp, len(gg), len(closed))
		}
		for i := range gg {
			if math.Abs(gg[i].Loss-closed[i].Loss) > 1e-10 || relErr(gg[i].Weights, closed[i].Weights, 1e-3) > 1e-10 {
				t.Fatalf("%s step %d: gorgonia loss %v weights %v, closed %v %v", exp, gg[i].Step, gg[i].Loss, gg[i].Weights, closed[i].Loss, closed[i].Weights)
			}
		}
	}
}

// E2's logistic/l1 flow reaches aᵢ = 0, where the l1 field is discontinuous,
// and cannot go on; the run keeps going without it.
func TestRunFlowStopsGracefully(t *testing.T) {
	c := shortConfig(t, "normalizers", "loss", "logistic", "normalizer", "l1", "lr", "0.5", "steps", "1e5",
		"flow_max_steps", "20000")
	c.Flow = true
	var stopped []float64
	var recs []TheoryRecord
	sums, err := RunExperiment(context.Background(), c, ExperimentHooks{
		Record:      func(r TheoryRecord) error { recs = append(recs, r); return nil },
		FlowStopped: func(_ string, t float64, _ error) { stopped = append(stopped, t) },
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(stopped) != 1 || sums[0].FlowStoppedAt != stopped[0] || sums[0].FlowError == "" {
		t.Fatalf("flow stops %v, summary %+v", stopped, sums[0])
	}
	if len(recs) != len(RecordSteps(100000, c.PerDecade)) {
		t.Fatalf("%d records", len(recs))
	}
	if !recs[0].HasFlow || recs[len(recs)-1].HasFlow {
		t.Error("want flow values before the stop and none at the end")
	}
	for _, r := range recs {
		if r.HasFlow && r.Time > stopped[0] {
			t.Errorf("flow value at t=%v after the stop at %v", r.Time, stopped[0])
		}
	}
	// a smooth normalizer integrates to the end under the same budget
	c.Normalizer = []string{"l2"}
	sums, err = RunExperiment(context.Background(), c, ExperimentHooks{})
	if err != nil || !math.IsNaN(sums[0].FlowStoppedAt) || math.IsNaN(sums[0].MaxFlowGap) {
		t.Errorf("l2: err %v, summary %+v", err, sums[0])
	}
}

// config.json round-trips, including the keys d and D that differ only in case.
func TestConfigJSONRoundTrip(t *testing.T) {
	c := shortConfig(t, "tied", "d", "3", "D", "10,20", "kappa", "2", "seed", "9")
	data, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	var back ExperimentConfig
	if err := json.Unmarshal(data, &back); err != nil {
		t.Fatal(err)
	}
	if !configEqual(c, back) {
		t.Errorf("got: %+v\nwant: %+v\njson: %s", back, c, data)
	}
}

// Set and Validate never panic, and whatever they accept expands into variants.
func FuzzExperimentConfigSet(f *testing.F) {
	for _, kv := range [][2]string{{"steps", "1e6"}, {"kappa", "1,2"}, {"D", "3"}, {"lr", "0.1,nan"},
		{"n", "-3"}, {"loss", "tied,square"}, {"seed", "18446744073709551615"}, {"flow", "1"}} {
		f.Add(kv[0], kv[1])
	}
	f.Fuzz(func(t *testing.T, key, value string) {
		c, _ := DefaultExperimentConfig("normalizers")
		if err := c.Set(key, value); err != nil {
			return
		}
		if err := c.Validate(); err != nil {
			return
		}
		if _, err := c.ToyVariants(); err != nil {
			t.Fatalf("Validate accepted %s=%q but ToyVariants failed: %v", key, value, err)
		}
	})
}

// TestE3EntropyFallsWithKappa runs E3 at the paper's settings (n = d = m = 20,
// β ~ N(0, I), 3·10⁵ steps of lr 1e-3, seed 0): with κ = 1 the weights stay
// uniform (entropy log 20 within 0.01), and the final entropy falls strictly
// as κ grows (SCIENCE.md §1, the paper's ill-conditioned regression).
func TestE3EntropyFallsWithKappa(t *testing.T) {
	c, err := DefaultExperimentConfig("regression")
	if err != nil {
		t.Fatal(err)
	}
	_, sums, err := collect(t, c)
	if err != nil {
		t.Fatal(err)
	}
	if len(sums) != 5 {
		t.Fatalf("%d variants, want κ = 1…5", len(sums))
	}
	for i, s := range sums {
		t.Logf("%s: entropy %.4f → %.4f", s.Variant, s.InitialEntropy, s.FinalEntropy)
		if i == 0 && math.Abs(s.FinalEntropy-math.Log(20)) > 0.01 {
			t.Errorf("κ = 1: final entropy %.4f, want log 20 = %.4f", s.FinalEntropy, math.Log(20))
		}
		if i > 0 && !(s.FinalEntropy < sums[i-1].FinalEntropy-0.05) {
			t.Errorf("%s: final entropy %.4f does not fall below %s's %.4f", s.Variant, s.FinalEntropy, sums[i-1].Variant, sums[i-1].FinalEntropy)
		}
	}
}
