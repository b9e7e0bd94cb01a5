package image

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
)

func readTar(t *testing.T, r io.Reader) (map[string][]byte, map[string]*tar.Header) {
	t.Helper()
	data, hdrs := map[string][]byte{}, map[string]*tar.Header{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return data, hdrs
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		data[h.Name], hdrs[h.Name] = b, h
	}
}

func TestWriteImageLayout(t *testing.T) {
	files := []File{
		{Path: "/bin/tool", Mode: 0o755, Data: []byte("#!/bin/sh\necho hi\n")},
		{Path: "/bin/alias", Symlink: "tool"},
		{Path: "/etc/empty", Data: []byte{}},
		{Path: "/tmp", Dir: true, Mode: 0o1777},
	}
	cfg := ImageConfig{Entrypoint: []string{"/bin/tool"}, Cmd: []string{"x"}, Env: []string{"A=b"}, WorkingDir: "/tmp", Architecture: "amd64"}
	var a, b bytes.Buffer
	if err := WriteImage(&a, "example.invalid/tool:2", files, cfg); err != nil {
		t.Fatal(err)
	}
	if err := WriteImage(&b, "example.invalid/tool:2", files, cfg); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("WriteImage is not deterministic")
	}
	blobs, _ := readTar(t, &a)
	if string(blobs["oci-layout"]) != `{"imageLayoutVersion":"1.0.0"}` {
		t.Fatalf("oci-layout: %q", blobs["oci-layout"])
	}
	var idx indexJSON
	if err := json.Unmarshal(blobs["index.json"], &idx); err != nil || len(idx.Manifests) != 1 {
		t.Fatalf("index.json: %v %s", err, blobs["index.json"])
	}
	md := idx.Manifests[0]
	if md.Annotations[AnnotationRefName] != "example.invalid/tool:2" || md.Annotations[AnnotationContainerdName] != "example.invalid/tool:2" {
		t.Fatalf("annotations: %v", md.Annotations)
	}
	blob := func(d descriptor) []byte {
		b, ok := blobs[blobPath(d.Digest)]
		if !ok || int64(len(b)) != d.Size || digestOf(b) != d.Digest {
			t.Fatalf("blob %s missing or not matching its descriptor", d.Digest)
		}
		return b
	}
	var m manifestJSON
	if err := json.Unmarshal(blob(md), &m); err != nil || m.SchemaVersion != 2 || len(m.Layers) != 1 {
		t.Fatalf("manifest: %v %+v", err, m)
	}
	var ic imageConfigJSON
	if err := json.Unmarshal(blob(m.Config), &ic); err != nil {
		t.Fatal(err)
	}
	if ic.Architecture != "amd64" || ic.OS != "linux" || ic.Config.WorkingDir != "/tmp" ||
		strings.Join(ic.Config.Entrypoint, " ") != "/bin/tool" || strings.Join(ic.Config.Env, " ") != "A=b" {
		t.Fatalf("config: %+v", ic)
	}
	zr, err := gzip.NewReader(bytes.NewReader(blob(m.Layers[0])))
	if err != nil {
		t.Fatal(err)
	}
	layer, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	if len(ic.RootFS.DiffIDs) != 1 || ic.RootFS.DiffIDs[0] != digestOf(layer) {
		t.Fatalf("diff_ids %v, layer %s", ic.RootFS.DiffIDs, digestOf(layer))
	}
	data, hdrs := readTar(t, bytes.NewReader(layer))
	if h := hdrs["bin/"]; h == nil || h.Typeflag != tar.TypeDir {
		t.Errorf("parent dir bin/ not added: %v", h)
	}
	if h := hdrs["bin/tool"]; h == nil || h.Mode != 0o755 || string(data["bin/tool"]) != "#!/bin/sh\necho hi\n" {
		t.Errorf("bin/tool: %+v", h)
	}
	if h := hdrs["bin/alias"]; h == nil || h.Typeflag != tar.TypeSymlink || h.Linkname != "tool" {
		t.Errorf("bin/alias: %+v", h)
	}
	if h := hdrs["tmp/"]; h == nil || h.Mode != 0o1777 {
		t.Errorf("tmp/: %+v", h)
	}
	if h := hdrs["etc/empty"]; h == nil || h.Mode != 0o644 || !h.ModTime.Equal(fixedTime) {
		t.Errorf("etc/empty: %+v", h)
	}
}

func TestWriteImageRejectsBadInput(t *testing.T) {
	cases := map[string]struct {
		ref   string
		files []File
	}{
		"relative path": {"a:1", []File{{Path: "bin/x"}}},
		"unclean path":  {"a:1", []File{{Path: "/bin/../x"}}},
		"two kinds":     {"a:1", []File{{Path: "/x", Dir: true, Symlink: "y"}}},
		"duplicate":     {"a:1", []File{{Path: "/x"}, {Path: "/x"}}},
		"file parent":   {"a:1", []File{{Path: "/x", Data: []byte("f")}, {Path: "/x/y"}}},
		"bad ref":       {"UPPER/Case", nil},
		"empty ref":     {"", nil},
	}
	for name, c := range cases {
		if err := WriteImage(io.Discard, c.ref, c.files, ImageConfig{}); err == nil {
			t.Errorf("%s: want an error", name)
		}
	}
}

func TestNormalizeRef(t *testing.T) {
	for in, want := range map[string]string{
		"busybox":                             "docker.io/library/busybox:latest",
		"busybox:1.36":                        "docker.io/library/busybox:1.36",
		"me/app":                              "docker.io/me/app:latest",
		"localhost/app:1":                     "localhost/app:1",
		"127.0.0.1:5000/a/b:c":                "127.0.0.1:5000/a/b:c",
		"corral.invalid/pause:1":              "corral.invalid/pause:1",
		"a@sha256:" + strings.Repeat("0", 64): "docker.io/library/a@sha256:" + strings.Repeat("0", 64),
	} {
		got, err := NormalizeRef(in)
		if err != nil || got != want {
			t.Errorf("NormalizeRef(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "a b", "A", "x:", "a@sha256:zz", "host:/x"} {
		if got, err := NormalizeRef(bad); err == nil {
			t.Errorf("NormalizeRef(%q) = %q, want an error", bad, got)
		}
	}
}

func TestBusyboxImage(t *testing.T) {
	var buf bytes.Buffer
	err := BusyboxImage(&buf, "busybox:test")
	if errors.Is(err, ErrNoBusybox) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	blobs, _ := readTar(t, &buf)
	if !strings.Contains(string(blobs["index.json"]), "docker.io/library/busybox:test") {
		t.Fatalf("index.json: %s", blobs["index.json"])
	}
}
