package volume

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

const (
	dataLink    = "..data"
	dataLinkTmp = "..data_tmp"
)

// file is one projected file: content and permission bits.
type file struct {
	data []byte
	mode os.FileMode
}

// writeAtomic makes dir hold exactly payload (relative path -> file).
// It does nothing when the current content is the same, and reports
// whether it wrote. gid, when set, is the fsGroup owning the files (they
// then get group read permission, as kubelet gives them).
func writeAtomic(dir string, payload map[string]file, now time.Time, gid *int64) (bool, error) {
	tops := map[string]bool{}
	for p := range payload {
		if err := checkPayloadPath(p); err != nil {
			return false, err
		}
		tops[strings.SplitN(p, "/", 2)[0]] = true
	}
	if gid != nil {
		adjusted := make(map[string]file, len(payload))
		for p, f := range payload {
			f.mode |= 0o440
			adjusted[p] = f
		}
		payload = adjusted
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, err
	}
	old, err := os.Readlink(filepath.Join(dir, dataLink))
	if err != nil && !os.IsNotExist(err) {
		return false, err
	}
	if old != "" && sameContent(filepath.Join(dir, old), payload) {
		return false, nil
	}

	tsDir, err := os.MkdirTemp(dir, now.UTC().Format("..2006_01_02_15_04_05."))
	if err != nil {
		return false, err
	}
	if err := writePayload(tsDir, payload, gid); err != nil {
		_ = os.RemoveAll(tsDir)
		return false, err
	}
	// The switch: a fresh symlink renamed over ..data is atomic, so
	// readers see either the old or the new directory, never a mix.
	tmp := filepath.Join(dir, dataLinkTmp)
	_ = os.Remove(tmp)
	if err := os.Symlink(filepath.Base(tsDir), tmp); err != nil {
		_ = os.RemoveAll(tsDir)
		return false, err
	}
	if err := os.Rename(tmp, filepath.Join(dir, dataLink)); err != nil {
		_ = os.RemoveAll(tsDir)
		return false, err
	}

	// User-visible names point into ..data; keys that are gone go away.
	entries, err := os.ReadDir(dir)
	if err != nil {
		return true, err
	}
	for _, e := range entries {
		name := e.Name()
		if strings.HasPrefix(name, "..") || tops[name] {
			continue
		}
		if e.Type()&fs.ModeSymlink != 0 {
			if err := os.Remove(filepath.Join(dir, name)); err != nil {
				return true, err
			}
		}
	}
	for top := range tops {
		link := filepath.Join(dir, top)
		target := filepath.Join(dataLink, top)
		if cur, err := os.Readlink(link); err == nil {
			if cur == target {
				continue
			}
			return true, fmt.Errorf("%s exists and is not the volume's link", link)
		} else if !os.IsNotExist(err) {
			return true, fmt.Errorf("%s exists and is not the volume's link", link)
		}
		if err := os.Symlink(target, link); err != nil {
			return true, err
		}
	}
	if old != "" && strings.HasPrefix(old, "..") && !strings.Contains(old, "/") {
		if err := os.RemoveAll(filepath.Join(dir, old)); err != nil {
			return true, err
		}
	}
	return true, nil
}

// checkPayloadPath refuses paths that could leave the volume or clash
// with the writer's own names.
func checkPayloadPath(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("empty file path")
	case filepath.IsAbs(p):
		return fmt.Errorf("file path %q must be relative", p)
	case strings.HasPrefix(p, ".."):
		return fmt.Errorf("file path %q must not start with '..'", p)
	}
	for _, part := range strings.Split(p, "/") {
		if part == ".." || part == "." || part == "" {
			return fmt.Errorf("file path %q must not contain '..', '.' or empty elements", p)
		}
	}
	return nil
}

func writePayload(dir string, payload map[string]file, gid *int64) error {
	if err := os.Chmod(dir, 0o755); err != nil {
		return err
	}
	for p, f := range payload {
		path := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(path, f.data, 0o600); err != nil {
			return err
		}
		if gid != nil {
			if err := os.Lchown(path, -1, int(*gid)); err != nil {
				return err
			}
		}
		// Chmod after writing: WriteFile's mode is filtered by the umask.
		if err := os.Chmod(path, f.mode); err != nil {
			return err
		}
	}
	return nil
}

// sameContent tells whether dir holds exactly payload.
func sameContent(dir string, payload map[string]file) bool {
	seen := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		rel, err := filepath.Rel(dir, path)
		if err != nil {
			return err
		}
		want, ok := payload[filepath.ToSlash(rel)]
		if !ok {
			return fs.ErrNotExist
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		if info.Mode().Perm() != want.mode.Perm() {
			return fs.ErrInvalid
		}
		got, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if !bytes.Equal(got, want.data) {
			return fs.ErrInvalid
		}
		seen++
		return nil
	})
	return err == nil && seen == len(payload)
}
