package transformer

import (
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// Set assigns one dotted key (model.n_heads, optim.lr, data.pool, seed) from
// its text form. Keys are the json names of the config fields; an unknown key
// is an error that names it and lists the valid keys of its section. Integers
// accept exponent forms such as 1e5 when the value is a whole number.
func (c *Config) Set(key, value string) error {
	v := reflect.ValueOf(c).Elem()
	parts := strings.Split(key, ".")
	for i, p := range parts {
		f, ok := fieldByJSON(v, p)
		if !ok {
			where := strings.Join(parts[:i], ".")
			if where == "" {
				where = "top level"
			}
			return fmt.Errorf("unknown config key %q (valid at %s: %s)", key, where, strings.Join(jsonNames(v), ", "))
		}
		v = f
	}
	if v.Kind() == reflect.Struct {
		return fmt.Errorf("config key %q is a section, not a value (its keys: %s)", key, strings.Join(jsonNames(v), ", "))
	}
	if err := setScalar(v, value); err != nil {
		return fmt.Errorf("config key %q: %w", key, err)
	}
	// train.steps and train.epochs are alternatives: setting one clears the
	// other's default, and setting both is left for Validate to refuse.
	switch key {
	case "train.steps":
		c.stepsSet = true
		if !c.epochsSet {
			c.Train.Epochs = 0
		}
	case "train.epochs":
		c.epochsSet = true
		if !c.stepsSet {
			c.Train.Steps = 0
		}
	}
	return nil
}

// NewLayer starts a new layer of overrides (the config file, then the
// command line): within one layer setting both train.steps and train.epochs
// is an error (Validate), while a later layer's train.steps replaces an
// earlier layer's train.epochs and the other way round.
func (c *Config) NewLayer() { c.stepsSet, c.epochsSet = false, false }

// Keys lists every settable dotted key.
func (c *Config) Keys() []string {
	var out []string
	var walk func(v reflect.Value, prefix string)
	walk = func(v reflect.Value, prefix string) {
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			name := jsonName(t.Field(i))
			if name == "" {
				continue
			}
			if v.Field(i).Kind() == reflect.Struct {
				walk(v.Field(i), prefix+name+".")
			} else {
				out = append(out, prefix+name)
			}
		}
	}
	walk(reflect.ValueOf(c).Elem(), "")
	return out
}

// ApplyYAML applies a YAML config file's content: nested mappings whose leaves
// are set with Set, so unknown keys are errors here too.
func (c *Config) ApplyYAML(content []byte) error {
	var doc map[string]any
	if err := yaml.Unmarshal(content, &doc); err != nil {
		return fmt.Errorf("config file: %w", err)
	}
	var flat [][2]string
	var walk func(prefix string, v any) error
	walk = func(prefix string, v any) error {
		switch x := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			for _, k := range keys {
				p := k
				if prefix != "" {
					p = prefix + "." + k
				}
				if err := walk(p, x[k]); err != nil {
					return err
				}
			}
		case []any:
			return fmt.Errorf("config file: key %q: lists are not config values", prefix)
		case nil:
			return fmt.Errorf("config file: key %q has no value", prefix)
		default:
			flat = append(flat, [2]string{prefix, fmt.Sprint(x)})
		}
		return nil
	}
	if err := walk("", doc); err != nil {
		return err
	}
	// task first: it decides the defaults and is not a plain override.
	for _, kv := range flat {
		if err := c.Set(kv[0], kv[1]); err != nil {
			return fmt.Errorf("config file: %w", err)
		}
	}
	return nil
}

func jsonName(f reflect.StructField) string {
	tag := f.Tag.Get("json")
	name, _, _ := strings.Cut(tag, ",")
	if name == "-" {
		return ""
	}
	return name
}

func fieldByJSON(v reflect.Value, name string) (reflect.Value, bool) {
	if v.Kind() != reflect.Struct {
		return reflect.Value{}, false
	}
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		if jsonName(t.Field(i)) == name {
			return v.Field(i), true
		}
	}
	return reflect.Value{}, false
}

func jsonNames(v reflect.Value) []string {
	if v.Kind() != reflect.Struct {
		return nil
	}
	var out []string
	t := v.Type()
	for i := 0; i < t.NumField(); i++ {
		if n := jsonName(t.Field(i)); n != "" {
			out = append(out, n)
		}
	}
	return out
}

func setScalar(v reflect.Value, s string) error {
	s = strings.TrimSpace(s)
	switch v.Kind() {
	case reflect.String:
		v.SetString(s)
	case reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("want true or false, got %q", s)
		}
		v.SetBool(b)
	case reflect.Int, reflect.Int64, reflect.Int32:
		n, err := parseWhole(s)
		if err != nil {
			return err
		}
		v.SetInt(n)
	case reflect.Uint64, reflect.Uint, reflect.Uint32:
		n, err := parseWhole(s)
		if err != nil {
			return err
		}
		if n < 0 {
			return fmt.Errorf("want a non-negative integer, got %q", s)
		}
		v.SetUint(uint64(n))
	case reflect.Float64, reflect.Float32:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("want a finite number, got %q", s)
		}
		v.SetFloat(f)
	default:
		return fmt.Errorf("unsupported value kind %s", v.Kind())
	}
	return nil
}

// parseWhole parses an integer, also in exponent form (1e5) when whole.
func parseWhole(s string) (int64, error) {
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, fmt.Errorf("want an integer, got %q", s)
	}
	return int64(f), nil
}

// Get returns the text form of a dotted key's value ("" for an unknown key).
func (c *Config) Get(key string) string {
	v := reflect.ValueOf(c).Elem()
	for _, p := range strings.Split(key, ".") {
		f, ok := fieldByJSON(v, p)
		if !ok {
			return ""
		}
		v = f
	}
	return fmt.Sprint(v.Interface())
}

// ArchitectureChanges lists the keys whose values differ between two configs
// and that a resumed run may not change: the task, the seed, the model and
// the data (everything that decides the parameters' shapes or the data
// stream). Training length, logging, probes and checkpoints may change.
func ArchitectureChanges(old, new *Config) []string {
	var out []string
	for _, k := range old.Keys() {
		if !(k == "task" || k == "seed" || strings.HasPrefix(k, "model.") || strings.HasPrefix(k, "data.")) {
			continue
		}
		if a, b := old.Get(k), new.Get(k); a != b {
			out = append(out, fmt.Sprintf("%s (%s → %s)", k, a, b))
		}
	}
	return out
}
