package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"time"
)

var runIDPattern = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9._-]*$`)

// makeRunDir creates the run folder under out. With no id it is named after
// the experiment or task and the UTC time, with a -2, -3, … suffix if that is taken.
func makeRunDir(out, id, experiment string, force bool) (dir, runID string, err error) {
	if err := os.MkdirAll(out, 0o755); err != nil {
		return "", "", fmt.Errorf("create %s: %w", out, err)
	}
	if id != "" {
		if !runIDPattern.MatchString(id) {
			return "", "", usagef("--run-id %q: use letters, digits, '.', '_' and '-' only", id)
		}
		dir = filepath.Join(out, id)
		err := os.Mkdir(dir, 0o755)
		switch {
		case err == nil:
		case errors.Is(err, os.ErrExist) && force:
			if st, serr := os.Stat(dir); serr != nil || !st.IsDir() {
				return "", "", fmt.Errorf("%s exists and is not a folder", dir)
			}
		case errors.Is(err, os.ErrExist):
			return "", "", usagef("run folder %s already exists (use --force to write into it, or another --run-id)", dir)
		default:
			return "", "", fmt.Errorf("create %s: %w", dir, err)
		}
		return dir, id, nil
	}
	base := experiment + "-" + time.Now().UTC().Format("20060102-150405")
	for i := 1; i < 10000; i++ {
		runID = base
		if i > 1 {
			runID = fmt.Sprintf("%s-%d", base, i)
		}
		dir = filepath.Join(out, runID)
		err := os.Mkdir(dir, 0o755)
		if err == nil {
			return dir, runID, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return "", "", fmt.Errorf("create %s: %w", dir, err)
		}
	}
	return "", "", fmt.Errorf("no free run folder name for %s in %s", base, out)
}
