package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"runtime"
	"sort"
	"strings"
	"time"
)

// Media types and annotations of the OCI image layout.
const (
	MediaTypeIndex    = "application/vnd.oci.image.index.v1+json"
	MediaTypeManifest = "application/vnd.oci.image.manifest.v1+json"
	MediaTypeConfig   = "application/vnd.oci.image.config.v1+json"
	MediaTypeLayerGz  = "application/vnd.oci.image.layer.v1.tar+gzip"

	// AnnotationRefName is the OCI name of a manifest in index.json.
	AnnotationRefName = "org.opencontainers.image.ref.name"
	// AnnotationContainerdName is the annotation containerd's importer takes
	// as the full image name, so ctr import needs no --base-name.
	AnnotationContainerdName = "io.containerd.image.name"
)

// fixedTime is the mtime of every layer entry and the config's created
// time, so that the same input always gives the same bytes and digests.
var fixedTime = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// File is one entry of an image's single layer. Exactly one of Data (a
// regular file, possibly empty), Symlink or Dir applies; parents are
// created as directories (0755) when not listed.
type File struct {
	Path    string      // absolute path inside the image, e.g. /bin/busybox
	Mode    os.FileMode // permission bits; default 0644 for files, 0755 for dirs
	Data    []byte
	Symlink string // target of a symbolic link
	Dir     bool
}

// ImageConfig is the runtime configuration stored in the image config.
type ImageConfig struct {
	Entrypoint   []string
	Cmd          []string
	Env          []string
	WorkingDir   string
	User         string
	Labels       map[string]string
	Architecture string // default runtime.GOARCH
	OS           string // default linux
}

type descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Annotations map[string]string `json:"annotations,omitempty"`
	Platform    *platform         `json:"platform,omitempty"`
}

type platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

type runConfig struct {
	Entrypoint []string          `json:"Entrypoint,omitempty"`
	Cmd        []string          `json:"Cmd,omitempty"`
	Env        []string          `json:"Env,omitempty"`
	WorkingDir string            `json:"WorkingDir,omitempty"`
	User       string            `json:"User,omitempty"`
	Labels     map[string]string `json:"Labels,omitempty"`
}

type imageConfigJSON struct {
	Created      time.Time `json:"created"`
	Architecture string    `json:"architecture"`
	OS           string    `json:"os"`
	Config       runConfig `json:"config"`
	RootFS       struct {
		Type    string   `json:"type"`
		DiffIDs []string `json:"diff_ids"`
	} `json:"rootfs"`
	History []struct {
		Created   time.Time `json:"created"`
		CreatedBy string    `json:"created_by"`
	} `json:"history"`
}

type manifestJSON struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Config        descriptor   `json:"config"`
	Layers        []descriptor `json:"layers"`
}

type indexJSON struct {
	SchemaVersion int          `json:"schemaVersion"`
	MediaType     string       `json:"mediaType"`
	Manifests     []descriptor `json:"manifests"`
}

// WriteImage writes an OCI image-layout tarball of a one-layer image named
// ref (normalized as by NormalizeRef) to w. The output is deterministic.
// It is what `ctr images import` reads; the importer takes the name from
// the io.containerd.image.name annotation.
func WriteImage(w io.Writer, ref string, files []File, cfg ImageConfig) error {
	_, err := writeImage(w, ref, files, cfg)
	return err
}

// writeImage is WriteImage, also returning the manifest digest.
func writeImage(w io.Writer, ref string, files []File, cfg ImageConfig) (string, error) {
	name, err := NormalizeRef(ref)
	if err != nil {
		return "", err
	}
	layer, diffID, err := buildLayer(files)
	if err != nil {
		return "", err
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	if _, err := zw.Write(layer); err != nil {
		return "", err
	}
	if err := zw.Close(); err != nil {
		return "", err
	}

	arch, osName := cfg.Architecture, cfg.OS
	if arch == "" {
		arch = runtime.GOARCH
	}
	if osName == "" {
		osName = "linux"
	}
	var ic imageConfigJSON
	ic.Created = fixedTime
	ic.Architecture, ic.OS = arch, osName
	ic.Config = runConfig{Entrypoint: cfg.Entrypoint, Cmd: cfg.Cmd, Env: cfg.Env,
		WorkingDir: cfg.WorkingDir, User: cfg.User, Labels: cfg.Labels}
	ic.RootFS.Type = "layers"
	ic.RootFS.DiffIDs = []string{diffID}
	ic.History = append(ic.History, struct {
		Created   time.Time `json:"created"`
		CreatedBy string    `json:"created_by"`
	}{fixedTime, "corral image.WriteImage"})
	configBlob, err := json.Marshal(ic)
	if err != nil {
		return "", err
	}

	layerDesc := descriptor{MediaType: MediaTypeLayerGz, Digest: digestOf(gz.Bytes()), Size: int64(gz.Len())}
	configDesc := descriptor{MediaType: MediaTypeConfig, Digest: digestOf(configBlob), Size: int64(len(configBlob))}
	manifestBlob, err := json.Marshal(manifestJSON{SchemaVersion: 2, MediaType: MediaTypeManifest,
		Config: configDesc, Layers: []descriptor{layerDesc}})
	if err != nil {
		return "", err
	}
	index, err := json.Marshal(indexJSON{SchemaVersion: 2, MediaType: MediaTypeIndex, Manifests: []descriptor{{
		MediaType: MediaTypeManifest, Digest: digestOf(manifestBlob), Size: int64(len(manifestBlob)),
		Annotations: map[string]string{AnnotationRefName: name, AnnotationContainerdName: name},
		Platform:    &platform{Architecture: arch, OS: osName},
	}}})
	if err != nil {
		return "", err
	}

	tw := tar.NewWriter(w)
	entries := []struct {
		name string
		data []byte
	}{
		{"oci-layout", []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		{"index.json", index},
		{"blobs/", nil},
		{"blobs/sha256/", nil},
		{blobPath(configDesc.Digest), configBlob},
		{blobPath(layerDesc.Digest), gz.Bytes()},
		{blobPath(digestOf(manifestBlob)), manifestBlob},
	}
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.data)), ModTime: fixedTime,
			Typeflag: tar.TypeReg, Format: tar.FormatPAX}
		if strings.HasSuffix(e.name, "/") {
			hdr.Typeflag, hdr.Mode = tar.TypeDir, 0o755
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return "", err
		}
		if _, err := tw.Write(e.data); err != nil {
			return "", err
		}
	}
	return digestOf(manifestBlob), tw.Close()
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func blobPath(digest string) string { return "blobs/sha256/" + strings.TrimPrefix(digest, "sha256:") }

// buildLayer returns the uncompressed layer tar and its diff ID. Entries
// are sorted by path, with missing parent directories added.
func buildLayer(files []File) ([]byte, string, error) {
	byPath := map[string]File{}
	for _, f := range files {
		p, err := cleanPath(f.Path)
		if err != nil {
			return nil, "", err
		}
		kinds := 0
		if f.Dir {
			kinds++
		}
		if f.Symlink != "" {
			kinds++
		}
		if kinds > 1 || (kinds == 1 && f.Data != nil) {
			return nil, "", fmt.Errorf("image file %s: set only one of Data, Symlink and Dir", f.Path)
		}
		if _, dup := byPath[p]; dup {
			return nil, "", fmt.Errorf("image file %s listed twice", f.Path)
		}
		f.Path = p
		byPath[p] = f
	}
	for p := range byPath {
		for d := path.Dir(p); d != "."; d = path.Dir(d) {
			if e, ok := byPath[d]; ok {
				if !e.Dir {
					return nil, "", fmt.Errorf("image file %s: parent %s is not a directory", p, d)
				}
				continue
			}
			byPath[d] = File{Path: d, Dir: true}
		}
	}
	paths := make([]string, 0, len(byPath))
	for p := range byPath {
		paths = append(paths, p)
	}
	sort.Strings(paths)

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, p := range paths {
		f := byPath[p]
		hdr := &tar.Header{Name: p, ModTime: fixedTime, Format: tar.FormatPAX, Uname: "root", Gname: "root"}
		switch {
		case f.Dir:
			hdr.Typeflag, hdr.Name, hdr.Mode = tar.TypeDir, p+"/", perm(f.Mode, 0o755)
		case f.Symlink != "":
			hdr.Typeflag, hdr.Linkname, hdr.Mode = tar.TypeSymlink, f.Symlink, 0o777
		default:
			hdr.Typeflag, hdr.Mode, hdr.Size = tar.TypeReg, perm(f.Mode, 0o644), int64(len(f.Data))
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, "", err
		}
		if _, err := tw.Write(f.Data); err != nil {
			return nil, "", err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), digestOf(buf.Bytes()), nil
}

func perm(m os.FileMode, def int64) int64 {
	if m == 0 {
		return def
	}
	// Accept both os.FileMode bits and raw Unix bits (0o1777).
	p := int64(m & 0o7777)
	if m&os.ModeSticky != 0 {
		p |= 0o1000
	}
	if m&os.ModeSetgid != 0 {
		p |= 0o2000
	}
	if m&os.ModeSetuid != 0 {
		p |= 0o4000
	}
	return p
}

// cleanPath turns an absolute image path into a tar entry name.
func cleanPath(p string) (string, error) {
	if !strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("image file path %q must be absolute", p)
	}
	c := path.Clean(p)
	if c == "/" {
		return "", errors.New("image file path must not be /")
	}
	if c != p && c+"/" != p {
		return "", fmt.Errorf("image file path %q is not clean (want %q)", p, c)
	}
	return strings.TrimPrefix(c, "/"), nil
}
