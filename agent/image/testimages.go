package image

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Builders of the images corral ships (pause) and of the images its tests
// run (busybox). Non-test code may call them: the e2e tests and other
// packages' tests build their images here.

// WritePauseImage writes the image tarball of PauseImage: /pause as
// entrypoint, nothing else.
func WritePauseImage(w io.Writer) error {
	bin, err := PauseBinary()
	if err != nil {
		return err
	}
	files := []File{{Path: PauseBinaryPath, Mode: 0o755, Data: bin}}
	return WriteImage(w, PauseImage, files, pauseConfig())
}

func pauseConfig() ImageConfig {
	return ImageConfig{Entrypoint: []string{PauseBinaryPath}, Architecture: "amd64"}
}

// BusyboxPath is where tests find a static busybox on the host (Debian's
// busybox-static).
var BusyboxPath = "/bin/busybox"

// ErrNoBusybox is returned when BusyboxPath is missing; tests skip on it.
var ErrNoBusybox = errors.New("no static busybox at /bin/busybox (apt-get install busybox-static)")

// BusyboxApplets are the commands linked to busybox in /bin of the test image.
var BusyboxApplets = []string{
	"sh", "ash", "sleep", "cat", "echo", "wget", "nc", "httpd", "ls", "env", "hostname",
	"true", "false", "ps", "kill", "mkdir", "rm", "touch", "date", "id", "ip", "ifconfig",
	"nslookup", "grep", "head", "tail", "wc", "test", "[", "printf", "seq", "timeout", "uname",
	"dd", "df", "du", "yes", "cp", "mv", "ln", "chmod", "pwd", "sed", "awk", "tee", "stat",
	"sort", "find", "xargs", "tr", "cut", "nproc", "free", "top", "mount", "ping", "route",
	"netstat", "vi", "whoami", "basename", "dirname", "readlink", "sync", "usleep", "tar", "stty", "tty",
}

// BusyboxFiles lists the files of the busybox test image: /bin/busybox,
// links to it for BusyboxApplets, /etc/passwd and /etc/group (root,
// nobody), /tmp (1777), /root and /var/www.
func BusyboxFiles() ([]File, error) {
	bin, err := os.ReadFile(BusyboxPath)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNoBusybox
	}
	if err != nil {
		return nil, fmt.Errorf("read busybox: %w", err)
	}
	files := []File{
		{Path: "/bin/busybox", Mode: 0o755, Data: bin},
		{Path: "/etc/passwd", Data: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")},
		{Path: "/etc/group", Data: []byte("root:x:0:\nnogroup:x:65534:\n")},
		{Path: "/tmp", Dir: true, Mode: 0o777 | os.ModeSticky},
		{Path: "/root", Dir: true, Mode: 0o700},
		{Path: "/var/www", Dir: true},
	}
	for _, a := range BusyboxApplets {
		files = append(files, File{Path: "/bin/" + a, Symlink: "busybox"})
	}
	return files, nil
}

// BusyboxImage writes a busybox image tarball named ref to w, with
// Cmd ["sh"] and PATH set. It returns ErrNoBusybox when the host has none.
func BusyboxImage(w io.Writer, ref string) error {
	files, err := BusyboxFiles()
	if err != nil {
		return err
	}
	return WriteImage(w, ref, files, ImageConfig{
		Cmd: []string{"sh"},
		Env: []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
	})
}

// WriteImageFile writes an image tarball to path through write (for
// example WritePauseImage, or a closure around BusyboxImage), atomically.
func WriteImageFile(path string, write func(io.Writer) error) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".image-*.tar")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := write(tmp); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}
