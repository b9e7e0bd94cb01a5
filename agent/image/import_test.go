package image

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeCtr writes a ctr stand-in that logs its arguments and fails on
// files whose name contains "bad".
func fakeCtr(t *testing.T) (ctr, log string) {
	t.Helper()
	dir := t.TempDir()
	ctr, log = filepath.Join(dir, "ctr"), filepath.Join(dir, "log")
	script := "#!/bin/sh\necho \"$@\" >> " + log + "\ncase \"$*\" in *bad*) echo broken >&2; exit 1;; esac\n"
	if err := os.WriteFile(ctr, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return ctr, log
}

func TestDirImporterRemembersFiles(t *testing.T) {
	ctr, log := fakeCtr(t)
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.tar", "a")
	write("bad.tar", "b")
	write("notes.txt", "ignored")
	write(".image-123.tar", "being written")
	d := DirImporter{Options: ImportOptions{CtrPath: ctr, Address: "/run/x.sock"}}
	ctx := context.Background()

	got, err := d.ImportDir(ctx, dir)
	if err == nil || !strings.Contains(err.Error(), "broken") {
		t.Fatalf("want the failure of bad.tar reported, got %v", err)
	}
	if len(got) != 1 || filepath.Base(got[0]) != "a.tar" {
		t.Fatalf("imported %v", got)
	}
	b, _ := os.ReadFile(log)
	if !strings.Contains(string(b), "--address /run/x.sock --namespace k8s.io images import --no-unpack=false "+filepath.Join(dir, "a.tar")) {
		t.Fatalf("ctr args: %s", b)
	}
	if strings.Contains(string(b), ".image-123.tar") {
		t.Fatalf("a hidden (half-written) tarball was imported: %s", b)
	}
	// Unchanged a.tar is skipped; the failed one is retried.
	got, _ = d.ImportDir(ctx, dir)
	if len(got) != 0 {
		t.Fatalf("second pass imported %v", got)
	}
	if n := strings.Count(readFile(t, log), "bad.tar"); n != 2 {
		t.Fatalf("bad.tar tried %d times, want 2", n)
	}
	// A changed a.tar is imported again.
	write("a.tar", "a, version 2")
	future := time.Now().Add(time.Hour)
	_ = os.Chtimes(filepath.Join(dir, "a.tar"), future, future)
	if got, _ = d.ImportDir(ctx, dir); len(got) != 1 {
		t.Fatalf("changed a.tar not re-imported: %v", got)
	}
	// A missing directory is nothing to do.
	if got, err := d.ImportDir(ctx, filepath.Join(dir, "none")); err != nil || len(got) != 0 {
		t.Fatalf("missing dir: %v %v", got, err)
	}
}

func TestImportNeedsAddress(t *testing.T) {
	p := filepath.Join(t.TempDir(), "x.tar")
	_ = os.WriteFile(p, nil, 0o644)
	if err := Import(context.Background(), ImportOptions{}, p); err == nil {
		t.Fatal("want an error without an address")
	}
	if err := Import(context.Background(), ImportOptions{Address: "/x"}, p+".missing"); err == nil {
		t.Fatal("want an error for a missing file")
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
