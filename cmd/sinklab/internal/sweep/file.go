package sweep

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/sinklab/sinklab/data"
)

// Param is one key's value, as text (the form `--set key=value` takes).
type Param struct {
	Key   string `json:"key"`
	Value string `json:"value"`
}

// Cell is one run of a sweep: one combination of grid values and one seed.
type Cell struct {
	// Index numbers the cells of a plan from 0 in grid order; it is the
	// Slurm array task id and the --index of `sinklab sweep run-cell`.
	Index int `json:"index"`
	// ID is the name of the cell's run folder and its run_id in the logs.
	ID string `json:"id"`
	// Task is the training task.
	Task string `json:"task"`
	// Params are the cell's grid values, in the order of the grid keys.
	Params []Param `json:"params"`
	// Seed is the cell's seed.
	Seed uint64 `json:"seed"`
	// Sets are the cell's `--set key=value` overrides: the base values, then
	// the grid values, then seed=Seed.
	Sets []string `json:"sets"`
}

// SlurmOptions are the #SBATCH options of a sweep's job array. Empty fields
// are left to the cluster's defaults.
type SlurmOptions struct {
	Partition   string   `yaml:"partition" json:"partition,omitempty"`
	Time        string   `yaml:"time" json:"time,omitempty"`
	CPUsPerTask int      `yaml:"cpus_per_task" json:"cpus_per_task,omitempty"`
	Mem         string   `yaml:"mem" json:"mem,omitempty"`
	Extra       []string `yaml:"extra" json:"extra,omitempty"` // further sbatch options, e.g. --qos=short
}

// Plan is a parsed sweep file and its cells.
type Plan struct {
	Name  string       // the file's name: field, else the file name without extension
	Task  string       // the task of every cell (unless the grid varies task)
	Base  []Param      // values shared by every cell, in file order
	Keys  []string     // grid keys, in file order
	Grid  [][]string   // Grid[k] are the values of Keys[k]
	Seeds []uint64     // seeds, in file order
	Slurm SlurmOptions // #SBATCH defaults from the file
	Cells []Cell       // the cross product, in grid order
	// Variants are the file's named override sets, in file order. When there
	// are any, Keys[0] is VariantKey and Grid[0] their names: each variant is
	// one more value of the outermost grid dimension, and a cell of variant v
	// gets Variants[v].Sets instead of a "variant=v" setting.
	Variants []Variant
}

// VariantKey is the pseudo grid key under which a sweep file's variants
// appear in Plan.Keys, a cell's Params and sweep.parquet.
const VariantKey = "variant"

// Variant is one entry of a sweep file's variants: a name and the config
// values that make it (possibly none: the base configuration itself).
type Variant struct {
	Name string
	Sets []Param
}

// fileDoc is the YAML layout of a sweep file.
type fileDoc struct {
	Name     string       `yaml:"name"`
	Task     string       `yaml:"task"`
	Base     yaml.Node    `yaml:"base"`
	Grid     yaml.Node    `yaml:"grid"`
	Variants yaml.Node    `yaml:"variants"`
	Seeds    yaml.Node    `yaml:"seeds"`
	Slurm    SlurmOptions `yaml:"slurm"`
}

// maxReadableID bounds the readable part of a cell id (file names stay well
// under the usual 255-byte limit).
const maxReadableID = 96

var (
	keyPattern  = regexp.MustCompile(`^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$`)
	namePattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]*$`)
	safeValue   = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
)

// Load reads and parses a sweep file.
func Load(path string) (*Plan, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("sweep: %w", err)
	}
	p, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if p.Name == "" {
		p.Name = strings.TrimSuffix(filepath.Base(path), filepath.Ext(path))
	}
	return p, nil
}

// Parse parses the content of a sweep file and expands its cells. Unknown
// top-level keys, lists in base, non-lists in the grid, empty or repeated
// grid values, repeated seeds and the keys seed (use seeds:) and task in base
// (use task:) are errors. Config keys themselves are checked by the caller,
// which knows the config (see Cell.Sets).
func Parse(content []byte) (*Plan, error) {
	var doc fileDoc
	dec := yaml.NewDecoder(bytes.NewReader(content))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("sweep file is empty")
		}
		return nil, fmt.Errorf("sweep file: %w", err)
	}
	p := &Plan{Name: doc.Name, Task: strings.TrimSpace(doc.Task), Slurm: doc.Slurm}
	if p.Name != "" && !namePattern.MatchString(p.Name) {
		return nil, fmt.Errorf("sweep file: name %q: use letters, digits, '.', '_' and '-' only", p.Name)
	}
	if p.Task == "" {
		p.Task = data.TaskInduction
	}
	base, err := flatten(&doc.Base, "", false)
	if err != nil {
		return nil, fmt.Errorf("sweep file: base: %w", err)
	}
	seen := map[string]string{}
	for _, kv := range base {
		if _, ok := seen[kv.key]; ok {
			return nil, fmt.Errorf("sweep file: base: key %q is given twice", kv.key)
		}
		switch kv.key {
		case "seed":
			return nil, errors.New("sweep file: base: seed: list the seeds under seeds: instead")
		case "task":
			return nil, errors.New("sweep file: base: task: give the task as the top-level task: instead")
		}
		seen[kv.key] = "base"
		p.Base = append(p.Base, Param{kv.key, kv.values[0]})
	}
	grid, err := flatten(&doc.Grid, "", true)
	if err != nil {
		return nil, fmt.Errorf("sweep file: grid: %w", err)
	}
	for _, kv := range grid {
		if kv.key == "seed" {
			return nil, errors.New("sweep file: grid: seed: list the seeds under seeds: instead")
		}
		if where, ok := seen[kv.key]; ok && where == "grid" {
			return nil, fmt.Errorf("sweep file: grid: key %q is given twice", kv.key)
		} else if ok {
			return nil, fmt.Errorf("sweep file: grid: key %q is also set in %s", kv.key, where)
		}
		seen[kv.key] = "grid"
		if len(kv.values) == 0 {
			return nil, fmt.Errorf("sweep file: grid: key %q has an empty list", kv.key)
		}
		dup := map[string]bool{}
		for _, v := range kv.values {
			if dup[v] {
				return nil, fmt.Errorf("sweep file: grid: key %q lists %q twice", kv.key, v)
			}
			dup[v] = true
		}
		p.Keys = append(p.Keys, kv.key)
		p.Grid = append(p.Grid, kv.values)
	}
	variants, err := parseVariants(&doc.Variants, seen)
	if err != nil {
		return nil, fmt.Errorf("sweep file: variants: %w", err)
	}
	if len(variants) > 0 {
		if _, ok := seen[VariantKey]; ok {
			return nil, fmt.Errorf("sweep file: %q is the column of variants: it cannot also be a config key", VariantKey)
		}
		names := make([]string, len(variants))
		for i, v := range variants {
			names[i] = v.Name
		}
		p.Variants = variants
		p.Keys = append([]string{VariantKey}, p.Keys...)
		p.Grid = append([][]string{names}, p.Grid...)
	}
	seeds, err := parseSeeds(&doc.Seeds)
	if err != nil {
		return nil, fmt.Errorf("sweep file: seeds: %w", err)
	}
	p.Seeds = seeds
	if err := p.Slurm.validate(); err != nil {
		return nil, fmt.Errorf("sweep file: slurm: %w", err)
	}
	if err := p.expand(); err != nil {
		return nil, fmt.Errorf("sweep file: %w", err)
	}
	return p, nil
}

// parseVariants reads the variants: mapping, name → mapping of config values
// ({} or nothing for the base configuration). Names are folder-safe and
// distinct; a variant's keys may not be set in base or grid (seen), nor be
// seed or task.
func parseVariants(n *yaml.Node, seen map[string]string) ([]Variant, error) {
	if n.Kind == 0 || n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return nil, nil
	}
	if n.Kind != yaml.MappingNode {
		return nil, fmt.Errorf("line %d: want a mapping of variant names to config values, e.g. gate-head: {model.gate: head}", n.Line)
	}
	if len(n.Content) == 0 {
		return nil, errors.New("empty mapping (leave variants out for a plain grid)")
	}
	var out []Variant
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		name := strings.TrimSpace(k.Value)
		if !safeValue.MatchString(name) || strings.Contains(name, "__") {
			return nil, fmt.Errorf("line %d: variant name %q: use letters, digits, '.', '_' and '-' only (no \"__\")", k.Line, name)
		}
		if slices.ContainsFunc(out, func(o Variant) bool { return o.Name == name }) {
			return nil, fmt.Errorf("line %d: variant %q is listed twice", k.Line, name)
		}
		kvs, err := flatten(v, "", false) // {} or nothing: no values, the base configuration
		if err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		vr := Variant{Name: name}
		for _, kv := range kvs {
			switch {
			case kv.key == "seed" || kv.key == "task":
				return nil, fmt.Errorf("%s: %s cannot be set by a variant", name, kv.key)
			case seen[kv.key] != "":
				return nil, fmt.Errorf("%s: key %q is also set in %s", name, kv.key, seen[kv.key])
			case slices.ContainsFunc(vr.Sets, func(p Param) bool { return p.Key == kv.key }):
				return nil, fmt.Errorf("%s: key %q is given twice", name, kv.key)
			}
			vr.Sets = append(vr.Sets, Param{kv.key, kv.values[0]})
		}
		out = append(out, vr)
	}
	return out, nil
}

// parseSeeds reads the seeds: list (default [1]). Seeds are whole numbers
// from 0 to 2⁶³−1, each listed once.
func parseSeeds(n *yaml.Node) ([]uint64, error) {
	if n.Kind == 0 || n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
		return []uint64{1}, nil
	}
	if n.Kind != yaml.SequenceNode {
		return nil, fmt.Errorf("line %d: want a list of whole numbers, e.g. [1, 2]", n.Line)
	}
	if len(n.Content) == 0 {
		return nil, errors.New("empty list (leave seeds out for the single seed 1)")
	}
	var out []uint64
	for _, e := range n.Content {
		if e.Kind != yaml.ScalarNode {
			return nil, fmt.Errorf("line %d: want a whole number", e.Line)
		}
		s, err := strconv.ParseInt(strings.TrimSpace(e.Value), 10, 64)
		switch {
		case err != nil:
			return nil, fmt.Errorf("line %d: %q is not a whole number from 0 to 2⁶³−1", e.Line, e.Value)
		case s < 0:
			return nil, fmt.Errorf("line %d: %d is negative", e.Line, s)
		case slices.Contains(out, uint64(s)):
			return nil, fmt.Errorf("line %d: %d is listed twice", e.Line, s)
		}
		out = append(out, uint64(s))
	}
	return out, nil
}

// flatKV is one flattened leaf of base (one value) or grid (a list).
type flatKV struct {
	key    string
	values []string
}

// flatten walks nested mappings and joins their keys with dots. Leaves are
// scalars (base) or lists of scalars (grid), kept in file order.
func flatten(n *yaml.Node, prefix string, lists bool) ([]flatKV, error) {
	if n.Kind == 0 { // the section is absent
		return nil, nil
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if n.Kind == yaml.ScalarNode && n.Tag == "!!null" && prefix == "" {
		return nil, nil // "base:" with nothing under it
	}
	if n.Kind != yaml.MappingNode {
		if prefix == "" {
			return nil, fmt.Errorf("line %d: want a mapping of keys to values", n.Line)
		}
		return nil, fmt.Errorf("key %q (line %d): want a value", prefix, n.Line)
	}
	var out []flatKV
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		key := strings.TrimSpace(k.Value)
		if prefix != "" {
			key = prefix + "." + key
		}
		if !keyPattern.MatchString(key) {
			return nil, fmt.Errorf("line %d: %q is not a config key (want dotted names such as model.n_heads)", k.Line, key)
		}
		if v.Kind == yaml.AliasNode {
			v = v.Alias
		}
		switch {
		case v.Kind == yaml.MappingNode:
			sub, err := flatten(v, key, lists)
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
			continue
		case v.Kind == yaml.SequenceNode && !lists:
			return nil, fmt.Errorf("key %q (line %d): lists belong in grid:, base values are single values", key, v.Line)
		case v.Kind == yaml.ScalarNode && lists:
			return nil, fmt.Errorf("key %q (line %d): want a list of values, e.g. [%s]", key, v.Line, v.Value)
		}
		kv := flatKV{key: key}
		if v.Kind == yaml.ScalarNode {
			s, err := scalar(key, v)
			if err != nil {
				return nil, err
			}
			kv.values = []string{s}
		} else {
			for _, e := range v.Content {
				if e.Kind == yaml.AliasNode {
					e = e.Alias
				}
				if e.Kind != yaml.ScalarNode {
					return nil, fmt.Errorf("key %q (line %d): list items must be single values", key, e.Line)
				}
				s, err := scalar(key, e)
				if err != nil {
					return nil, err
				}
				kv.values = append(kv.values, s)
			}
		}
		out = append(out, kv)
	}
	return out, nil
}

// scalar returns a YAML scalar's text exactly as written (1e-3 stays 1e-3).
func scalar(key string, n *yaml.Node) (string, error) {
	if n.Tag == "!!null" {
		return "", fmt.Errorf("key %q (line %d) has no value", key, n.Line)
	}
	s := strings.TrimSpace(n.Value)
	if s == "" {
		return "", fmt.Errorf("key %q (line %d) has an empty value", key, n.Line)
	}
	if strings.ContainsAny(s, "\n\r") {
		return "", fmt.Errorf("key %q (line %d): a value must be one line", key, n.Line)
	}
	return s, nil
}

// expand fills p.Cells with the cross product of the grid and the seeds.
func (p *Plan) expand() error {
	short := shortNames(p.Keys)
	n := len(p.Seeds)
	for _, vs := range p.Grid {
		if n > math.MaxInt32/len(vs) {
			return errors.New("the grid has too many cells")
		}
		n *= len(vs)
	}
	var baseSets []string
	for _, kv := range p.Base {
		baseSets = append(baseSets, kv.Key+"="+kv.Value)
	}
	pos := make([]int, len(p.Keys)) // odometer over the grid, last key fastest
	ids := map[string]int{}
	for combo := 0; combo < n/len(p.Seeds); combo++ {
		params := make([]Param, len(p.Keys))
		task := p.Task
		for k, key := range p.Keys {
			params[k] = Param{key, p.Grid[k][pos[k]]}
			if key == "task" {
				task = params[k].Value
			}
		}
		for _, seed := range p.Seeds {
			c := Cell{Index: len(p.Cells), Task: task, Params: params, Seed: seed}
			c.Sets = append(c.Sets, baseSets...)
			for k, kv := range params {
				switch {
				case kv.Key == "task":
				case k == 0 && len(p.Variants) > 0: // Keys[0] is VariantKey
					for _, s := range p.Variants[pos[0]].Sets {
						c.Sets = append(c.Sets, s.Key+"="+s.Value)
					}
				default:
					c.Sets = append(c.Sets, kv.Key+"="+kv.Value)
				}
			}
			c.Sets = append(c.Sets, "seed="+strconv.FormatUint(seed, 10))
			c.ID = cellID(short, c)
			if j, ok := ids[c.ID]; ok {
				return fmt.Errorf("cells %d and %d get the same id %q", j, c.Index, c.ID)
			}
			ids[c.ID] = c.Index
			p.Cells = append(p.Cells, c)
		}
		for k := len(pos) - 1; k >= 0; k-- {
			if pos[k]++; pos[k] < len(p.Grid[k]) {
				break
			}
			pos[k] = 0
		}
	}
	return nil
}

// shortNames gives every grid key its last dotted segment, or the whole key
// when two keys share the last segment.
func shortNames(keys []string) map[string]string {
	last := func(k string) string { return k[strings.LastIndex(k, ".")+1:] }
	count := map[string]int{}
	for _, k := range keys {
		count[last(k)]++
	}
	out := map[string]string{}
	for _, k := range keys {
		if count[last(k)] == 1 && last(k) != "seed" {
			out[k] = last(k)
		} else {
			out[k] = k
		}
	}
	return out
}

// cellID builds the readable, stable id of a cell: key-value parts joined by
// "__", ending in seed-S. When a value had to be changed to fit a folder name
// (or holds "__"), or the id grows too long, a hash of the exact task, values
// and seed is appended, so the id stays unique and depends on the cell alone.
func cellID(short map[string]string, c Cell) string {
	var parts []string
	exact := true
	for _, kv := range c.Params {
		v := kv.Value
		if !safeValue.MatchString(v) || strings.Contains(v, "__") {
			exact = false
			v = sanitize(v)
		}
		parts = append(parts, short[kv.Key]+"-"+v)
	}
	parts = append(parts, "seed-"+strconv.FormatUint(c.Seed, 10))
	id := strings.Join(parts, "__")
	if len(id) > maxReadableID {
		exact = false
		id = strings.TrimRight(id[:maxReadableID], "_-.")
	}
	if exact {
		return id
	}
	h := sha256.New()
	fmt.Fprintf(h, "task=%s\x00", c.Task)
	for _, kv := range c.Params {
		fmt.Fprintf(h, "%s=%s\x00", kv.Key, kv.Value)
	}
	fmt.Fprintf(h, "seed=%d", c.Seed)
	return id + "__h" + hex.EncodeToString(h.Sum(nil))[:8]
}

// sanitize maps a value onto [A-Za-z0-9._-], replacing other characters (and
// runs of underscores) with one underscore.
func sanitize(v string) string {
	var b strings.Builder
	for _, r := range v {
		ok := r < 128 && (r == '.' || r == '-' || r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z')
		if !ok || r == '_' {
			if !strings.HasSuffix(b.String(), "_") {
				b.WriteByte('_')
			}
			continue
		}
		b.WriteRune(r)
	}
	if b.Len() == 0 {
		return "_"
	}
	return b.String()
}

// validate checks the #SBATCH options for values that would break the script.
func (o *SlurmOptions) validate() error {
	for name, v := range map[string]string{"partition": o.Partition, "time": o.Time, "mem": o.Mem} {
		if strings.ContainsAny(v, " \t\n\r'\"\\$`") {
			return fmt.Errorf("%s %q: no spaces, quotes or shell characters", name, v)
		}
	}
	if o.CPUsPerTask < 0 {
		return fmt.Errorf("cpus_per_task must be ≥ 1, got %d", o.CPUsPerTask)
	}
	for _, e := range o.Extra {
		if !strings.HasPrefix(e, "-") || strings.ContainsAny(e, "\n\r") {
			return fmt.Errorf("extra option %q: want one sbatch option such as --qos=short", e)
		}
	}
	return nil
}
