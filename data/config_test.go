package data

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		label, task string
		edit        func(*Config)
		want        string // substring of the error
	}{
		{"unknown-task", "inductoin", nil, "valid: induction, classification, bigram-backcopy, copy, zipf"},
		{"n-distinct>base", TaskInduction, func(c *Config) { c.NDistinct = 50 }, "n_distinct (50) must be ≤ base_vocab (49)"},
		{"n-distinct-1", TaskInduction, func(c *Config) { c.NDistinct = 1 }, "n_distinct must be ≥ 2"},
		{"base-vocab-0", TaskInduction, func(c *Config) { c.BaseVocab = 0 }, "base_vocab"},
		{"aux-negative", TaskInduction, func(c *Config) { c.AuxWeight = -0.1 }, "aux_weight"},
		{"aux-nan", TaskInduction, func(c *Config) { c.AuxWeight = math.NaN() }, "aux_weight"},
		{"aux-huge", TaskInduction, func(c *Config) { c.AuxWeight = 1e300 }, "aux_weight must be in [0, 1e6]"},
		{"induction-seq-len", TaskInduction, func(c *Config) { c.SeqLen = 13 }, "seq_len of induction is derived (12)"},
		{"induction-vocab", TaskInduction, func(c *Config) { c.Vocab = 50 }, "vocab of induction is derived (100)"},
		{"unused-field", TaskInduction, func(c *Config) { c.ZipfS = 1.1 }, "zipf_s is not used by task induction"},
		{"unused-corpus", TaskZipf, func(c *Config) { c.Corpus = "x.txt" }, "corpus is not used by task zipf"},
		{"class-vocab", TaskClassification, func(c *Config) { c.Vocab = 42 }, "vocab must be 1 + labels·G"},
		{"class-labels-0", TaskClassification, func(c *Config) { c.Labels = 0 }, "labels must be ≥ 2"},
		{"class-sample-len", TaskClassification, func(c *Config) { c.SampleLen = 11 }, "sample_len must be in [1, (vocab−1)/labels = 10]"},
		{"class-seq-len", TaskClassification, func(c *Config) { c.SeqLen = 10 }, "seq_len of classification is derived (11)"},
		{"backcopy-seq-len", TaskBackcopy, func(c *Config) { c.SeqLen = 1 }, "seq_len must be ≥ 2"},
		{"backcopy-vocab", TaskBackcopy, func(c *Config) { c.Vocab = 92 }, "vocab is set by the corpus"},
		{"backcopy-triggers", TaskBackcopy, func(c *Config) { c.Triggers = -1 }, "triggers must be ≥ 0"},
		{"copy-even", TaskCopy, func(c *Config) { c.SeqLen = 32 }, "seq_len must be odd and ≥ 3"},
		{"copy-short", TaskCopy, func(c *Config) { c.SeqLen = 1 }, "seq_len must be odd and ≥ 3"},
		{"copy-vocab", TaskCopy, func(c *Config) { c.Vocab = 2 }, "vocab must be ≥ 3"},
		{"zipf-seq-len", TaskZipf, func(c *Config) { c.SeqLen = 0 }, "seq_len must be ≥ 1"},
		{"zipf-vocab", TaskZipf, func(c *Config) { c.Vocab = 1 }, "vocab must be ≥ 2"},
		{"zipf-s", TaskZipf, func(c *Config) { c.ZipfS = math.Inf(1) }, "zipf_s"},
		{"seq-len-huge", TaskZipf, func(c *Config) { c.SeqLen = 1 << 20 }, "seq_len must be in"},
		{"pool-negative", TaskZipf, func(c *Config) { c.Pool = -1 }, "pool must be ≥ 0"},
		{"pool-huge", TaskBackcopy, func(c *Config) { c.Pool = 1 << 21 }, "pool·seq_len"},
		{"eval-negative", TaskCopy, func(c *Config) { c.EvalSize = -3 }, "eval_size must be ≥ 0"},
	} {
		t.Run(tc.label, func(t *testing.T) {
			c, _ := DefaultConfig(tc.task)
			if tc.edit != nil {
				tc.edit(&c)
			}
			err := c.Validate(tc.task)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate: %v, want an error containing %q", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "data: ") {
				t.Errorf("error %q lacks the package prefix", err)
			}
			if _, err := New(tc.task, c, 1); err == nil {
				t.Fatal("New accepted the config")
			}
		})
	}
	if _, err := DefaultConfig("nope"); err == nil {
		t.Error("DefaultConfig(nope) succeeded")
	}
}

func TestConfigDerivedValuesAccepted(t *testing.T) {
	for _, tc := range []struct {
		task string
		edit func(*Config)
	}{
		{TaskInduction, func(c *Config) { c.SeqLen, c.Vocab = 12, 100 }},
		{TaskInduction, func(c *Config) { c.ShiftQuery, c.Vocab = false, 50 }},
		{TaskInduction, func(c *Config) { c.NDistinct = 20 }}, // seq_len stays derived
		{TaskClassification, func(c *Config) { c.SeqLen = 11 }},
		{TaskClassification, func(c *Config) { c.Vocab = 161 }},
	} {
		c, _ := DefaultConfig(tc.task)
		tc.edit(&c)
		if err := c.Validate(tc.task); err != nil {
			t.Errorf("%s %+v: %v", tc.task, c, err)
		}
	}
}

// TestConfigFields: every field has a snake_case json tag and a plain type,
// as the command line's --set data.<name>=value relies on.
func TestConfigFields(t *testing.T) {
	typ := reflect.TypeOf(Config{})
	seen := map[string]bool{}
	for i := 0; i < typ.NumField(); i++ {
		f := typ.Field(i)
		name := f.Tag.Get("json")
		if name == "" || name != strings.ToLower(name) || strings.ContainsAny(name, ",- ") || seen[name] {
			t.Errorf("field %s: json tag %q", f.Name, name)
		}
		seen[name] = true
		switch f.Type.Kind() {
		case reflect.Int, reflect.Float64, reflect.Bool, reflect.String:
		default:
			t.Errorf("field %s has type %s", f.Name, f.Type)
		}
	}
	// Round trip through JSON, as the run's config.json.
	for _, name := range Names() {
		c, _ := DefaultConfig(name)
		raw, err := json.Marshal(c)
		if err != nil {
			t.Fatal(err)
		}
		var back Config
		if err := json.Unmarshal(raw, &back); err != nil || back != c {
			t.Errorf("%s: JSON round trip gave %+v, %v", name, back, err)
		}
	}
}

// FuzzConfig: any config that validates builds a task whose batches have ids
// in range and the task's mask sum; bad configs never panic.
func FuzzConfig(f *testing.F) {
	f.Add(uint8(0), 12, 0, 10, 49, true, 0.2, 4, 10, 1.0, 0)
	f.Add(uint8(1), 0, 41, 0, 0, false, 0.0, 4, 10, 0.0, 3)
	f.Add(uint8(2), 33, 64, 0, 0, false, 0.0, 0, 0, 0.0, 5)
	f.Add(uint8(3), 64, 64, 0, 0, false, 0.0, 0, 0, 1.0, 0)
	f.Add(uint8(0), -1, -1, -1, -1, true, -1.0, -1, -1, -1.0, -1)
	f.Fuzz(func(t *testing.T, which uint8, seqLen, vocab, nDistinct, baseVocab int, shift bool, aux float64,
		labels, sampleLen int, zipfS float64, pool int) {
		name := []string{TaskInduction, TaskClassification, TaskCopy, TaskZipf}[which%4]
		c, _ := DefaultConfig(name)
		// Keep sizes small enough for a quick run; the values still reach every check.
		c.SeqLen, c.Vocab = seqLen%300, vocab%300
		c.Pool, c.EvalSize = pool%20, 5
		switch name {
		case TaskInduction:
			c.NDistinct, c.BaseVocab, c.ShiftQuery, c.AuxWeight = nDistinct%300, baseVocab%300, shift, aux
		case TaskClassification:
			c.Labels, c.SampleLen = labels%50, sampleLen%50
		case TaskZipf:
			c.ZipfS = zipfS
		}
		if c.Validate(name) != nil {
			if _, err := New(name, c, 1); err == nil {
				t.Fatal("New accepted a config that Validate refused")
			}
			return
		}
		tk, err := New(name, c, 1)
		if err != nil {
			t.Fatalf("New: %v", err)
		}
		want := 1.0
		if name == TaskInduction {
			want += c.AuxWeight
		}
		b := fill(tk, newRNG(1), 4)
		ng := len(tk.Groups())
		for i := 0; i < b.B; i++ {
			var s float64
			for p := 0; p < b.T; p++ {
				j := i*b.T + p
				if b.Inputs[j] < 0 || int(b.Inputs[j]) >= tk.Vocab() || b.Targets[j] < 0 || int(b.Targets[j]) >= tk.Vocab() || int(b.Group[j]) >= ng {
					t.Fatalf("position %d: ids (%d, %d) outside [0, %d)", j, b.Inputs[j], b.Targets[j], tk.Vocab())
				}
				s += float64(b.Mask[j])
			}
			if math.Abs(s-want) > 1e-4*math.Max(1, want) {
				t.Fatalf("Σ mask = %v, want %v", s, want)
			}
		}
	})
}
