package attention

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
)

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
