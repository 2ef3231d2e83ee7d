package main

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"github.com/spf13/cobra"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"golang.org/x/term"
)

// version is set at build time with -ldflags "-X main.version=…"; otherwise the
// module version from the build info is used.
var version = ""

// Version returns the sinklab version string.
func Version() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok {
		v := bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += "+" + s.Value[:12]
			}
		}
		if v != "" {
			return v
		}
	}
	return "(devel)"
}

// subcommands lists the constructors of every subcommand; each cmd_*.go file
// appends its own in an init function.
var subcommands []func(*app) *cobra.Command

// globalOptions are the flags shared by every subcommand.
type globalOptions struct {
	LogFormat string // console or json
	Quiet     bool
	Verbose   bool
}

// app holds what every subcommand needs: the logger and where to print.
type app struct {
	opts   globalOptions
	log    *zap.Logger
	stdout io.Writer
	stderr io.Writer
}

// newLogger builds the one zap logger of the process.
func newLogger(o globalOptions, w io.Writer) (*zap.Logger, error) {
	level := zapcore.InfoLevel
	switch {
	case o.Quiet && o.Verbose:
		return nil, usagef("--quiet and --verbose cannot be used together")
	case o.Quiet:
		level = zapcore.WarnLevel
	case o.Verbose:
		level = zapcore.DebugLevel
	}
	var enc zapcore.Encoder
	switch o.LogFormat {
	case "console", "":
		cfg := zap.NewDevelopmentEncoderConfig()
		cfg.EncodeTime = zapcore.TimeEncoderOfLayout("15:04:05")
		cfg.EncodeCaller = nil
		cfg.CallerKey = ""
		cfg.StacktraceKey = ""
		enc = zapcore.NewConsoleEncoder(cfg)
	case "json":
		cfg := zap.NewProductionEncoderConfig()
		cfg.EncodeTime = zapcore.ISO8601TimeEncoder
		enc = zapcore.NewJSONEncoder(cfg)
	default:
		return nil, usagef("unknown --log-format %q (want console or json)", o.LogFormat)
	}
	core := zapcore.NewCore(enc, zapcore.AddSync(w), level)
	return zap.New(core), nil
}

// stderrIsTerminal reports whether progress bars should be drawn.
func stderrIsTerminal() bool { return term.IsTerminal(int(os.Stderr.Fd())) }

func newRootCmd() *cobra.Command {
	a := &app{stdout: os.Stdout, stderr: os.Stderr}
	root := &cobra.Command{
		Use:   "sinklab",
		Short: "Train small transformers and value-softmax models and watch attention sinks form",
		Long: `sinklab trains toy transformers on synthetic and text tasks, runs the value-softmax
experiments of Varre, Rofin and Flammarion (2026) beside their exact gradient flow, and
records per-head attention probes into Parquet files any analysis tool can open.`,
		Example: `  sinklab train                      # default induction run, shows a BOS sink forming
  sinklab theory                     # E1: logistic loss on y = V softmax(a)
  sinklab theory --list`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			l, err := newLogger(a.opts, a.stderr)
			if err != nil {
				return err
			}
			a.log = l
			return nil
		},
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&a.opts.LogFormat, "log-format", "console", "log format: console (readable) or json")
	pf.BoolVarP(&a.opts.Quiet, "quiet", "q", false, "only log warnings and errors")
	pf.BoolVarP(&a.opts.Verbose, "verbose", "v", false, "log debug messages")

	root.AddCommand(newVersionCmd(a))
	for _, c := range subcommands {
		root.AddCommand(c(a))
	}
	return root
}

func newVersionCmd(a *app) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the sinklab version",
		Example: "  sinklab version",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintln(a.stdout, "sinklab", Version())
			return nil
		},
	}
}
