package logs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	clocktesting "k8s.io/utils/clock/testing"
)

var t0 = time.Date(2026, 1, 2, 3, 4, 5, 600000000, time.UTC)

func line(i int, stream, tag, msg string) string {
	return fmt.Sprintf("%s %s %s %s\n", t0.Add(time.Duration(i)*time.Second).Format(time.RFC3339Nano), stream, tag, msg)
}

func writeFile(t *testing.T, lines ...string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "0.log")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "")), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func read(t *testing.T, path string, opts Options) string {
	t.Helper()
	var out bytes.Buffer
	if err := Read(context.Background(), path, opts, &out); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func ptr(n int64) *int64 { return &n }

func TestReadOptions(t *testing.T) {
	p := writeFile(t,
		line(0, "stdout", "F", "one"),
		line(1, "stderr", "P", "two-"),
		line(2, "stdout", "F", "three"),
		line(3, "stderr", "F", "end"),
		"garbage line\n",
		line(4, "stdout", "F", ""),
		line(5, "stdout", "F", "five"),
	)
	cases := []struct {
		name string
		opts Options
		want string
	}{
		{"all", Options{}, "one\nthree\ntwo-end\n\nfive\n"},
		{"tail 2", Options{TailLines: ptr(2)}, "\nfive\n"},
		{"tail 0", Options{TailLines: ptr(0)}, ""},
		{"tail more than there is", Options{TailLines: ptr(50)}, "one\nthree\ntwo-end\n\nfive\n"},
		{"since", Options{Since: t0.Add(2 * time.Second)}, "three\n\nfive\n"},
		{"stderr only", Options{Stream: Stderr}, "two-end\n"},
		{"limit", Options{LimitBytes: ptr(6)}, "one\nth"},
		{"timestamps", Options{TailLines: ptr(1), Timestamps: true}, t0.Add(5*time.Second).Format(time.RFC3339Nano) + " five\n"},
		{"partial keeps first time", Options{Stream: Stderr, Timestamps: true}, t0.Add(time.Second).Format(time.RFC3339Nano) + " two-end\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := read(t, p, c.opts); got != c.want {
				t.Errorf("got %q, want %q", got, c.want)
			}
		})
	}
}

func TestReadMissingFile(t *testing.T) {
	err := Read(context.Background(), filepath.Join(t.TempDir(), "nope"), Options{}, &bytes.Buffer{})
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("want not-exist error, got %v", err)
	}
}

// syncBuffer is a buffer safe for a reader goroutine and the test.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func appendTo(t *testing.T, path string, lines ...string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(strings.Join(lines, "")); err != nil {
		t.Fatal(err)
	}
}

func TestFollowAcrossRotation(t *testing.T) {
	p := writeFile(t, line(0, "stdout", "F", "old-1"), line(1, "stdout", "F", "old-2"))
	var mu sync.Mutex
	running := true
	keep := func() bool { mu.Lock(); defer mu.Unlock(); return running }
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- Read(context.Background(), p, Options{Follow: true, TailLines: ptr(1), KeepFollowing: keep, PollInterval: time.Millisecond}, &out)
	}()
	waitFor(t, "the tail", func() bool { return out.String() == "old-2\n" })

	// A writer appends, a line arriving in two writes.
	appendTo(t, p, line(2, "stdout", "F", "new-1"))
	half := line(3, "stderr", "F", "split")
	appendTo(t, p, half[:10])
	waitFor(t, "the appended line", func() bool { return out.String() == "old-2\nnew-1\n" })
	appendTo(t, p, half[10:])
	waitFor(t, "the finished line", func() bool { return out.String() == "old-2\nnew-1\nsplit\n" })

	// Rotation: a last line lands in the old file, then the runtime reopens.
	reopened := false
	err := Rotate(p, 1, 3, func() error {
		old, _ := Rotated(p)
		if len(old) != 1 {
			t.Errorf("rotated files during reopen: %v", old)
			return nil
		}
		appendTo(t, old[0], line(4, "stdout", "F", "late-in-old"))
		appendTo(t, p+".unrelated", "") // other files are left alone
		appendTo(t, p, line(5, "stdout", "F", "after-rotation"))
		reopened = true
		return nil
	})
	if err != nil || !reopened {
		t.Fatalf("rotate: %v (reopened %v)", err, reopened)
	}
	rot, _ := Rotated(p)
	if len(rot) != 1 {
		t.Fatalf("rotated files: %v", rot)
	}
	waitFor(t, "the line of the new file", func() bool {
		return out.String() == "old-2\nnew-1\nsplit\nlate-in-old\nafter-rotation\n"
	})
	appendTo(t, p, line(6, "stdout", "F", "last"))
	mu.Lock()
	running = false
	mu.Unlock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "old-2\nnew-1\nsplit\nlate-in-old\nafter-rotation\nlast\n"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestFollowEndsWithContext(t *testing.T) {
	p := writeFile(t, line(0, "stdout", "F", "x"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	var out syncBuffer
	go func() { done <- Read(ctx, p, Options{Follow: true, PollInterval: time.Millisecond}, &out) }()
	waitFor(t, "output", func() bool { return out.String() == "x\n" })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("want context.Canceled, got %v", err)
	}
}

func TestRotate(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "0.log")
	clk := clocktesting.NewFakePassiveClock(t0)
	r := Rotator{Clock: clk}
	reopen := func() error { return os.WriteFile(p, nil, 0o644) }

	if err := r.Rotate(p, 10, 3, reopen); err != nil {
		t.Fatalf("missing file: %v", err)
	}
	os.WriteFile(p, []byte("short"), 0o644)
	if err := r.Rotate(p, 10, 3, func() error { t.Fatal("reopened a small file"); return nil }); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 4; i++ {
		os.WriteFile(p, []byte(fmt.Sprintf("content number %d", i)), 0o644)
		clk.SetTime(t0.Add(time.Duration(i) * time.Second))
		if err := r.Rotate(p, 10, 3, reopen); err != nil {
			t.Fatal(err)
		}
	}
	files, _ := Rotated(p)
	if len(files) != 2 {
		t.Fatalf("want 2 rotated files (3 with the current), got %v", files)
	}
	if b, _ := os.ReadFile(files[1]); string(b) != "content number 3" {
		t.Fatalf("newest rotated file holds %q", b)
	}
	if b, _ := os.ReadFile(files[0]); string(b) != "content number 2" {
		t.Fatalf("oldest kept file holds %q", b)
	}
	if info, err := os.Stat(p); err != nil || info.Size() != 0 {
		t.Fatalf("current file: %v %v", info, err)
	}

	// A failed reopen puts the file back.
	os.WriteFile(p, []byte("content that is long"), 0o644)
	clk.SetTime(t0.Add(time.Minute))
	if err := r.Rotate(p, 10, 3, func() error { return errors.New("runtime down") }); err == nil || !strings.Contains(err.Error(), "runtime down") {
		t.Fatalf("want the reopen error, got %v", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "content that is long" {
		t.Fatalf("file not restored: %q", b)
	}
	if err := r.Rotate(p, 10, 1, reopen); err == nil {
		t.Fatal("maxFiles 1 accepted")
	}
}

func TestRotateLoop(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "0.log")
	os.WriteFile(p, []byte("0123456789 too long"), 0o644)
	clk := clocktesting.NewFakeClock(t0)
	var mu sync.Mutex
	reopens := 0
	targets := func() []Target {
		return []Target{{Path: p, Reopen: func() error {
			mu.Lock()
			reopens++
			mu.Unlock()
			return os.WriteFile(p, nil, 0o644)
		}}}
	}
	count := func() int { mu.Lock(); defer mu.Unlock(); return reopens }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { RotateLoop(ctx, clk, time.Minute, 10, 5, targets); close(done) }()
	waitFor(t, "the first rotation", func() bool { return count() == 1 && clk.HasWaiters() })
	os.WriteFile(p, []byte("0123456789 again too long"), 0o644)
	clk.Step(time.Minute)
	waitFor(t, "the second rotation", func() bool { return count() == 2 })
	if files, _ := Rotated(p); len(files) != 2 {
		t.Fatalf("rotated files: %v", files)
	}
	cancel()
	<-done
}
