package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sinklab/sinklab/data"
	"github.com/sinklab/sinklab/transformer"
)

func init() { subcommands = append(subcommands, newSampleCmd) }

// sampleOptions are the flags of `sinklab sample`.
type sampleOptions struct {
	Checkpoint  int64
	Prompt      string
	Tokens      string
	MaxNew      int
	Temperature float64
	TopK        int
	Seed        uint64

	checkpointSet bool // whether --checkpoint was given
}

// AddFlags registers the flags.
func (o *sampleOptions) AddFlags(f *pflag.FlagSet) {
	f.Int64Var(&o.Checkpoint, "checkpoint", 0, "checkpoint step to load (default: the newest valid one)")
	f.StringVar(&o.Prompt, "prompt", "", "prompt text (text tasks; encoded with the run's tokenizer.json)")
	f.StringVar(&o.Tokens, "tokens", "", "prompt as comma-separated token ids (default: BOS = 0)")
	f.IntVar(&o.MaxNew, "max-new", 100, "number of tokens to generate, ≥ 1")
	f.Float64Var(&o.Temperature, "temperature", 1, "sampling temperature; 0 = greedy")
	f.IntVar(&o.TopK, "top-k", 0, "sample among the k most likely tokens; 0 = all")
	f.Uint64Var(&o.Seed, "seed", 1, "random seed of the sampler")
}

func newSampleCmd(a *app) *cobra.Command {
	o := &sampleOptions{}
	cmd := &cobra.Command{
		Use:   "sample RUN_DIR",
		Short: "Continue a prompt with a trained model",
		Long: `sample loads a run's checkpoint and prints a continuation: text for text tasks,
token ids for synthetic ones. The prompt is BOS unless --prompt or --tokens is given.`,
		Example: `  sinklab sample runs/text-20261128-120000 --prompt "Light is" --max-new 200 --temperature 0.8
  sinklab sample runs/induction-20261128-120000 --tokens 0,5,9,12,7 --max-new 3 --temperature 0`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.checkpointSet = cmd.Flags().Changed("checkpoint")
			return runSample(cmd.Context(), a, args[0], o)
		},
	}
	o.AddFlags(cmd.Flags())
	return cmd
}

func runSample(ctx context.Context, a *app, dir string, o *sampleOptions) error {
	if o.Prompt != "" && o.Tokens != "" {
		return usagef("give --prompt or --tokens, not both")
	}
	switch {
	case o.MaxNew < 1:
		return usagef("--max-new must be ≥ 1, got %d", o.MaxNew)
	case o.Temperature < 0 || o.TopK < 0:
		return usagef("--temperature and --top-k must be ≥ 0")
	case o.checkpointSet && o.Checkpoint < 0:
		return usagef("--checkpoint must be a step ≥ 0, got %d", o.Checkpoint)
	}
	step := int64(-1) // the newest valid checkpoint
	if o.checkpointSet {
		step = o.Checkpoint
	}
	lr, err := openRunAt(dir, step)
	if err != nil {
		return err
	}
	defer lr.runner.Close()
	tok := data.TokenizerOf(lr.task)
	var prompt []int32
	keepFirst := true
	switch {
	case o.Prompt != "":
		if tok == nil {
			return usagef("--prompt needs a text run; this is %q: use --tokens", lr.rc.Config.Task)
		}
		prompt = tok.Encode(o.Prompt)
		if lr.rc.Config.Data.BOS {
			prompt = append([]int32{tok.BOS()}, prompt...)
		} else {
			keepFirst = false
		}
	case o.Tokens != "":
		for _, f := range strings.Split(o.Tokens, ",") {
			v, err := strconv.ParseInt(strings.TrimSpace(f), 10, 32)
			if err != nil {
				return usagef("--tokens: %q is not a token id", f)
			}
			prompt = append(prompt, int32(v))
		}
	default:
		prompt = []int32{0}
		if tok != nil {
			prompt = []int32{tok.BOS()}
		}
	}
	out, err := transformer.Sample(lr.runner, prompt, transformer.SampleOptions{MaxNew: o.MaxNew,
		Temperature: o.Temperature, TopK: o.TopK, KeepFirst: keepFirst}, rand.New(rand.NewPCG(o.Seed, 0x5a3)))
	if err != nil {
		return usagef("%v", err)
	}
	if tok != nil {
		fmt.Fprintln(a.stdout, o.Prompt+tok.Decode(out))
		return nil
	}
	ids := make([]string, len(out))
	for i, v := range out {
		ids[i] = strconv.Itoa(int(v))
	}
	fmt.Fprintln(a.stdout, strings.Join(ids, ","))
	return nil
}
