package logs

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
)

// rotatedSuffix is the time format appended to rotated files; fixed width,
// so that names sort by age.
const rotatedSuffix = "20060102-150405.000000000"

// Rotator rotates container log files by size.
type Rotator struct {
	Clock clock.PassiveClock
}

// Rotate rotates path with the real clock; see Rotator.Rotate.
func Rotate(path string, maxSize int64, maxFiles int, reopen func() error) error {
	return Rotator{Clock: clock.RealClock{}}.Rotate(path, maxSize, maxFiles, reopen)
}

// Rotate renames path to path.<time> once it reaches maxSize bytes and
// calls reopen (CRI ReopenContainerLog) so that the runtime writes a new
// file at path, then removes the oldest rotated files so that at most
// maxFiles files remain, the current one included. A missing file is not
// an error (the container has not written yet or is gone). When reopen
// fails the rename is undone, so the runtime keeps a file at path.
func (r Rotator) Rotate(path string, maxSize int64, maxFiles int, reopen func() error) error {
	if maxFiles < 2 {
		return fmt.Errorf("log rotation needs maxFiles >= 2, got %d", maxFiles)
	}
	if maxSize <= 0 {
		return fmt.Errorf("log rotation needs maxSize > 0, got %d", maxSize)
	}
	info, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if info.Size() < maxSize {
		return nil
	}
	// Make room first, so that maxFiles holds while the new file appears.
	if err := prune(path, maxFiles-2); err != nil {
		return err
	}
	rotated := path + "." + r.Clock.Now().UTC().Format(rotatedSuffix)
	if err := os.Rename(path, rotated); err != nil {
		return err
	}
	if err := reopen(); err != nil {
		if rerr := os.Rename(rotated, path); rerr != nil {
			return fmt.Errorf("reopening %s: %w (and restoring it: %v)", path, err, rerr)
		}
		return fmt.Errorf("reopening %s: %w", path, err)
	}
	return nil
}

// Rotated lists the rotated files of path, oldest first.
func Rotated(path string) ([]string, error) {
	matches, err := filepath.Glob(globEscape(path) + ".*")
	if err != nil {
		return nil, err
	}
	var out []string
	for _, m := range matches {
		suffix := strings.TrimPrefix(m, path+".")
		if len(suffix) == len(rotatedSuffix) && !strings.HasSuffix(m, ".tmp") {
			out = append(out, m)
		}
	}
	sort.Strings(out)
	return out, nil
}

// prune removes the oldest rotated files of path until keep remain.
func prune(path string, keep int) error {
	files, err := Rotated(path)
	if err != nil {
		return err
	}
	for len(files) > keep {
		if err := os.Remove(files[0]); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		files = files[1:]
	}
	return nil
}

func globEscape(s string) string {
	var b strings.Builder
	for _, c := range s {
		if strings.ContainsRune(`*?[\`, c) {
			b.WriteByte('\\')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// Target is one container log file to keep rotated.
type Target struct {
	Path string
	// Reopen asks the runtime to write a new file at Path (CRI
	// ReopenContainerLog of the container).
	Reopen func() error
}

// RotateLoop rotates every running container's log file (targets lists
// them afresh each round) every interval until ctx ends, as kubelet's
// container log manager does. Failures are logged and retried next round.
func RotateLoop(ctx context.Context, clk clock.Clock, interval time.Duration, maxSize int64, maxFiles int, targets func() []Target) {
	r := Rotator{Clock: clk}
	for {
		for _, t := range targets() {
			if err := r.Rotate(t.Path, maxSize, maxFiles, t.Reopen); err != nil {
				klog.ErrorS(err, "rotating container log", "path", t.Path)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-clk.After(interval):
		}
	}
}
