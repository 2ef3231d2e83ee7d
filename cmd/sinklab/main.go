// Command sinklab trains small transformers and value-softmax toy models and
// records how attention sinks form.
//
// Subcommands live one per file (cmd_theory.go, cmd_train.go, …), each with an
// options struct, its flags and a runX function. Errors are mapped to exit
// codes once, in main: usage errors (bad flags, unknown keys, bad values) exit
// with status 2, everything else with status 1.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd()
	err := root.ExecuteContext(ctx)
	os.Exit(exitCode(err))
}

// usageError marks an error caused by the command line or config (exit status 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usagef returns a usage error (exit status 2) with a formatted message.
func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	msg := err.Error()
	if strings.HasPrefix(msg, "unknown command") {
		// cobra's message spans lines ("Did you mean this?\n\ttrain"): one line, status 2.
		first, rest, _ := strings.Cut(msg, "\n")
		if s := strings.Fields(strings.ReplaceAll(rest, "Did you mean this?", "")); len(s) > 0 {
			first += " (did you mean " + strings.Join(s, " or ") + "?)"
		}
		err, msg = usageError{errors.New(first)}, first
	}
	fmt.Fprintln(os.Stderr, "sinklab: "+msg)
	var ue usageError
	switch {
	case errors.As(err, &ue):
		return 2
	case errors.Is(err, context.Canceled):
		return 130
	default:
		return 1
	}
}
