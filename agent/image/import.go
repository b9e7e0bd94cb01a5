package image

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
)

// DefaultCtrPath is the ctr binary of Debian's containerd package.
const DefaultCtrPath = "/usr/bin/ctr"

// CRINamespace is the containerd namespace the CRI plugin sees.
const CRINamespace = "k8s.io"

// ImportOptions says which containerd to import into.
type ImportOptions struct {
	CtrPath     string // default DefaultCtrPath
	Address     string // containerd's gRPC socket (required)
	Namespace   string // default CRINamespace
	Snapshotter string // default: ctr's default (overlayfs), which the CRI plugin uses
}

func (o ImportOptions) ctr(ctx context.Context, args ...string) ([]byte, error) {
	if o.Address == "" {
		return nil, errors.New("image import: no containerd address")
	}
	ctr := o.CtrPath
	if ctr == "" {
		ctr = DefaultCtrPath
	}
	ns := o.Namespace
	if ns == "" {
		ns = CRINamespace
	}
	full := append([]string{"--address", o.Address, "--namespace", ns}, args...)
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, ctr, full...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("%s %s: %w: %s", ctr, strings.Join(full, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// Import imports the image tarball (OCI layout or docker save format) at
// tarPath and unpacks it, so that the CRI plugin can run it at once.
func Import(ctx context.Context, opts ImportOptions, tarPath string) error {
	if _, err := os.Stat(tarPath); err != nil {
		return fmt.Errorf("image import: %w", err)
	}
	args := []string{"images", "import", "--no-unpack=false"}
	if opts.Snapshotter != "" {
		args = append(args, "--snapshotter", opts.Snapshotter)
	}
	_, err := opts.ctr(ctx, append(args, tarPath)...)
	return err
}

// Image is one image as ctr lists it.
type Image struct {
	Ref    string
	Digest string
}

// List returns the images of the namespace, sorted by reference.
func List(ctx context.Context, opts ImportOptions) ([]Image, error) {
	out, err := opts.ctr(ctx, "images", "ls")
	if err != nil {
		return nil, err
	}
	// Columns: REF TYPE DIGEST SIZE PLATFORMS LABELS; the header comes first.
	var imgs []Image
	for i, line := range strings.Split(string(out), "\n") {
		f := strings.Fields(line)
		if i == 0 || len(f) < 3 {
			continue
		}
		imgs = append(imgs, Image{Ref: f[0], Digest: f[2]})
	}
	sort.Slice(imgs, func(i, j int) bool { return imgs[i].Ref < imgs[j].Ref })
	return imgs, nil
}

// EnsurePause makes sure containerd holds this corral's PauseImage: unless
// it is there with the same manifest digest, the tarball is written into
// dir (pause.tar) and imported.
func EnsurePause(ctx context.Context, opts ImportOptions, dir string) error {
	var buf bytes.Buffer
	bin, err := PauseBinary()
	if err != nil {
		return err
	}
	digest, err := writeImage(&buf, PauseImage, []File{{Path: PauseBinaryPath, Mode: 0o755, Data: bin}},
		pauseConfig())
	if err != nil {
		return err
	}
	imgs, err := List(ctx, opts)
	if err != nil {
		return err
	}
	for _, img := range imgs {
		if img.Ref == PauseImage && img.Digest == digest {
			return nil
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	p := filepath.Join(dir, "pause.tar")
	if err := WriteImageFile(p, func(w io.Writer) error { _, err := w.Write(buf.Bytes()); return err }); err != nil {
		return err
	}
	return Import(ctx, opts, p)
}

// DirImporter imports every *.tar of a directory (the agent's auto-import
// directory, like k3s's agent/images) and remembers, by name, size and
// modification time, which files it has imported already.
type DirImporter struct {
	Options ImportOptions

	mu   sync.Mutex
	done map[string]fileKey
}

type fileKey struct {
	size  int64
	mtime int64 // UnixNano
}

// ImportDir imports the tarballs of dir that are new or changed since the
// last call and returns their paths. A missing dir is not an error. A
// failed file is retried next time; the error names every failure.
func (d *DirImporter) ImportDir(ctx context.Context, dir string) ([]string, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	ents, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if d.done == nil {
		d.done = map[string]fileKey{}
	}
	var imported []string
	var errs []error
	for _, e := range ents {
		// Hidden names are files being written (WriteImageFile's
		// temporaries): importing them half-written would fail.
		if !e.Type().IsRegular() || !strings.HasSuffix(e.Name(), ".tar") || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		info, err := e.Info()
		if err != nil {
			errs = append(errs, err)
			continue
		}
		key := fileKey{info.Size(), info.ModTime().UnixNano()}
		if d.done[e.Name()] == key {
			continue
		}
		p := filepath.Join(dir, e.Name())
		if err := Import(ctx, d.Options, p); err != nil {
			errs = append(errs, err)
			continue
		}
		d.done[e.Name()] = key
		imported = append(imported, p)
	}
	return imported, errors.Join(errs...)
}
