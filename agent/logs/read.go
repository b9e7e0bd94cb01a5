package logs

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"k8s.io/utils/clock"
)

// Options select what Read writes, as kubelet's PodLogOptions do.
type Options struct {
	// Follow keeps reading as the file grows, and into the new file when
	// the old one is rotated away.
	Follow bool
	// TailLines, when set, starts at that many lines before the end.
	TailLines *int64
	// Since, when set, skips lines written before it.
	Since time.Time
	// Timestamps prefixes each line with its RFC3339Nano time.
	Timestamps bool
	// LimitBytes, when set, stops after that many bytes of output.
	LimitBytes *int64
	// Stream, when set, writes one stream only (else both, interleaved).
	Stream Stream
	// KeepFollowing is asked whenever a followed file has no new data;
	// when it reports false (the container exited) Read drains the file
	// and returns. Nil follows until ctx ends.
	KeepFollowing func() bool
	// Clock paces the polling of followed files (default the real clock);
	// PollInterval is the pause between polls (default 100ms).
	Clock        clock.Clock
	PollInterval time.Duration
}

// errLimit ends a read once LimitBytes are written.
var errLimit = errors.New("byte limit reached")

// Read writes the log file at path to w under opts. It returns nil at the
// end of the file (without Follow), when the byte limit is reached, or
// when KeepFollowing says the container is done; ctx ending returns its error.
func Read(ctx context.Context, path string, opts Options, w io.Writer) error {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = 100 * time.Millisecond
	}
	r := &reader{opts: opts, w: w}
	if opts.LimitBytes != nil {
		r.left = *opts.LimitBytes
	}
	if opts.TailLines != nil {
		r.tail = newRing(*opts.TailLines)
	}
	err := r.run(ctx, path)
	if errors.Is(err, errLimit) {
		return nil
	}
	return err
}

type reader struct {
	opts  Options
	w     io.Writer
	left  int64 // bytes still allowed when LimitBytes is set
	tail  *ring // collects the last lines until the first end of file
	join  joiner
	carry []byte // an unfinished line at the end of the file
}

func (r *reader) run(ctx context.Context, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer func() { f.Close() }()
	br := bufio.NewReader(f)
	for {
		if err := r.drain(br); err != nil {
			return err
		}
		if r.tail != nil {
			if err := r.flushTail(); err != nil {
				return err
			}
		}
		if !r.opts.Follow {
			return r.flushPartial()
		}
		// At the end of the file: a rotation means the rest is in a new file.
		if rotated(f, path) {
			if err := r.drain(br); err != nil {
				return err
			}
			nf, err := os.Open(path)
			if err != nil {
				return err
			}
			f.Close()
			f, br, r.carry = nf, bufio.NewReader(nf), nil
			continue
		}
		if r.opts.KeepFollowing != nil && !r.opts.KeepFollowing() {
			if err := r.drain(br); err != nil {
				return err
			}
			return r.flushPartial()
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-r.opts.Clock.After(r.opts.PollInterval):
		}
	}
}

// rotated reports whether path now names another file than f (the
// runtime reopened it after a rename). A missing path is not yet rotated.
func rotated(f *os.File, path string) bool {
	cur, err := f.Stat()
	if err != nil {
		return false
	}
	now, err := os.Stat(path)
	return err == nil && !os.SameFile(cur, now)
}

// drain reads every whole line up to the end of the file.
func (r *reader) drain(br *bufio.Reader) error {
	for {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 {
			r.carry = append(r.carry, line...)
		}
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		line, r.carry = r.carry, nil
		e, perr := parseLine(line)
		if perr != nil {
			// A damaged line is skipped, as kubelet does, not fatal.
			continue
		}
		if err := r.take(e); err != nil {
			return err
		}
	}
}

func (r *reader) take(e entry) error {
	if r.opts.Stream != "" && e.stream != r.opts.Stream {
		return nil
	}
	whole, ok := r.join.add(e)
	if !ok {
		return nil
	}
	if !r.opts.Since.IsZero() && whole.ts.Before(r.opts.Since) {
		return nil
	}
	if r.tail != nil {
		r.tail.push(whole)
		return nil
	}
	return r.write(whole, true)
}

func (r *reader) flushTail() error {
	t := r.tail
	r.tail = nil
	for _, e := range t.items() {
		if err := r.write(e, true); err != nil {
			return err
		}
	}
	return nil
}

// flushPartial writes what is left of unfinished partial lines, without
// a newline, when reading stops.
func (r *reader) flushPartial() error {
	for _, s := range []Stream{Stdout, Stderr} {
		if p := r.join.pending[s]; p != nil {
			delete(r.join.pending, s)
			if err := r.write(*p, false); err != nil {
				return err
			}
		}
	}
	return nil
}

func (r *reader) write(e entry, newline bool) error {
	var buf []byte
	if r.opts.Timestamps {
		buf = append(buf, e.ts.Format(time.RFC3339Nano)...)
		buf = append(buf, ' ')
	}
	buf = append(buf, e.msg...)
	if newline {
		buf = append(buf, '\n')
	}
	limited := false
	if r.opts.LimitBytes != nil && int64(len(buf)) >= r.left {
		buf, limited = buf[:r.left], true
	}
	if _, err := r.w.Write(buf); err != nil {
		return fmt.Errorf("writing logs: %w", err)
	}
	r.left -= int64(len(buf))
	if limited {
		return errLimit
	}
	return nil
}

// ring keeps the last n entries.
type ring struct {
	buf   []entry
	n     int
	start int
}

func newRing(n int64) *ring {
	if n < 0 {
		n = 0
	}
	return &ring{n: int(n)}
}

func (r *ring) push(e entry) {
	if r.n == 0 {
		return
	}
	e.msg = append([]byte(nil), e.msg...)
	if len(r.buf) < r.n {
		r.buf = append(r.buf, e)
		return
	}
	r.buf[r.start] = e
	r.start = (r.start + 1) % r.n
}

func (r *ring) items() []entry {
	return append(append([]entry(nil), r.buf[r.start:]...), r.buf[:r.start]...)
}
