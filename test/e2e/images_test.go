package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"corral/agent/image"
)

// Pods pull images from a private registry (Debian's docker-registry on
// loopback, htpasswd auth) with imagePullSecrets, fail clearly without
// them, and follow imagePullPolicy Never and Always as kubelet does.
func TestRegistryPulls(t *testing.T) {
	c := sharedCluster(t)
	reg := startRegistry(t)
	ns := c.namespace(t)
	ctx := context.Background()

	var tarball bytes.Buffer
	if err := image.BusyboxImage(&tarball, busybox); err != nil {
		t.Fatal(err)
	}
	digest := reg.push(t, tarball.Bytes(), "e2e/busybox", "1")
	reg.push(t, tarball.Bytes(), "e2e/other", "1")
	good := reg.host + "/e2e/busybox:1"
	other := reg.host + "/e2e/other:1"

	secret := func(name, server, user, pass string) {
		cfg, _ := json.Marshal(map[string]any{"auths": map[string]any{server: map[string]string{
			"username": user, "password": pass, "auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))}}})
		if _, err := c.client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name},
			Type: corev1.SecretTypeDockerConfigJson, Data: map[string][]byte{corev1.DockerConfigJsonKey: cfg}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	secret("right", reg.host, reg.user, reg.pass)
	secret("wrong", reg.host, reg.user, "not-the-password")
	// docker login writes keys as URLs too.
	secret("right-url", "http://"+reg.host+"/v2/", reg.user, reg.pass)
	pod := func(name, img string, policy corev1.PullPolicy, secrets ...string) *corev1.Pod {
		p := shPod(name, "echo pulled; exec sleep 3600")
		p.Spec.Containers[0].Image = img
		p.Spec.Containers[0].ImagePullPolicy = policy
		p.Spec.TerminationGracePeriodSeconds = ptrInt64(1)
		for _, s := range secrets {
			p.Spec.ImagePullSecrets = append(p.Spec.ImagePullSecrets, corev1.LocalObjectReference{Name: s})
		}
		return p
	}
	c.create(t, ns, pod("good", good, corev1.PullIfNotPresent, "missing", "right"))
	c.create(t, ns, pod("wrong", other, corev1.PullIfNotPresent, "wrong"))
	c.create(t, ns, pod("anonymous", other, corev1.PullIfNotPresent))
	c.create(t, ns, pod("never", reg.host+"/e2e/absent:1", corev1.PullNever))

	p := c.waitPod(t, ns, "good", 2*time.Minute, "Running", running)
	cs := p.Status.ContainerStatuses[0]
	if !strings.Contains(cs.ImageID, digest) || cs.Image == "" {
		t.Errorf("pulled image: imageID %q should name the pushed manifest %s (image %q)", cs.ImageID, digest, cs.Image)
	}
	t.Logf("pulled: image %q imageID %q", cs.Image, cs.ImageID)

	for _, name := range []string{"wrong", "anonymous"} {
		var sawErrImagePull bool
		p := c.waitPod(t, ns, name, 2*time.Minute, "ImagePullBackOff", func(p *corev1.Pod) bool {
			if len(p.Status.ContainerStatuses) == 0 || p.Status.ContainerStatuses[0].State.Waiting == nil {
				return false
			}
			w := p.Status.ContainerStatuses[0].State.Waiting
			sawErrImagePull = sawErrImagePull || w.Reason == "ErrImagePull"
			return w.Reason == "ImagePullBackOff"
		})
		w := p.Status.ContainerStatuses[0].State.Waiting
		if !strings.Contains(w.Message, other) || !strings.Contains(strings.ToLower(w.Message), "unauthorized") {
			t.Errorf("%s: ImagePullBackOff message %q should name the image and say unauthorized", name, w.Message)
		}
		t.Logf("%s: %s: %s", name, w.Reason, w.Message)
		if !sawErrImagePull && !hasEvent(t, c, ns, name, "Failed", "ErrImagePull") {
			t.Errorf("%s: neither the status nor an event showed ErrImagePull before ImagePullBackOff", name)
		}
	}

	// Credentials are read again at each attempt: fixing the secret ends
	// the back-off at the next retry.
	s, err := c.client.CoreV1().Secrets(ns).Get(ctx, "wrong", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	s.Data[corev1.DockerConfigJsonKey] = bytes.ReplaceAll(s.Data[corev1.DockerConfigJsonKey], []byte("not-the-password"), []byte(reg.pass))
	s.Data[corev1.DockerConfigJsonKey] = bytes.ReplaceAll(s.Data[corev1.DockerConfigJsonKey],
		[]byte(base64.StdEncoding.EncodeToString([]byte(reg.user+":not-the-password"))), []byte(base64.StdEncoding.EncodeToString([]byte(reg.user+":"+reg.pass))))
	if _, err := c.client.CoreV1().Secrets(ns).Update(ctx, s, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.waitPod(t, ns, "wrong", 90*time.Second, "Running once the secret is right", running)

	p = c.waitPod(t, ns, "never", time.Minute, "ErrImageNeverPull", func(p *corev1.Pod) bool {
		return len(p.Status.ContainerStatuses) > 0 && p.Status.ContainerStatuses[0].State.Waiting != nil &&
			p.Status.ContainerStatuses[0].State.Waiting.Reason == "ErrImageNeverPull"
	})
	if msg := p.Status.ContainerStatuses[0].State.Waiting.Message; !strings.Contains(msg, "not present with pull policy of Never") {
		t.Errorf("ErrImageNeverPull message: %q", msg)
	}
	if n := reg.manifestRequests(t, "e2e/absent"); n != 0 {
		t.Errorf("pull policy Never asked the registry %d times", n)
	}

	// Always: the image is present (pod good), yet the registry is asked.
	before := reg.manifestRequests(t, "e2e/busybox")
	c.create(t, ns, pod("always", good, corev1.PullAlways, "right-url"))
	c.waitPod(t, ns, "always", time.Minute, "Running", running)
	if after := reg.manifestRequests(t, "e2e/busybox"); after <= before {
		t.Errorf("pull policy Always: manifest requests %d before, %d after; want a new one", before, after)
	} else {
		t.Logf("pull policy Always of a present image: %d manifest requests", after-before)
	}
	// IfNotPresent of a present image does not ask.
	before = reg.manifestRequests(t, "e2e/busybox")
	c.create(t, ns, pod("present", good, corev1.PullIfNotPresent))
	c.waitPod(t, ns, "present", time.Minute, "Running", running)
	if after := reg.manifestRequests(t, "e2e/busybox"); after != before {
		t.Errorf("pull policy IfNotPresent of a present image asked the registry (%d → %d manifest requests)", before, after)
	}
}

// `corral image import` loads a tarball into the agent's containerd, and
// a tarball dropped into the agent's images directory is picked up by
// the auto-import loop; pods with imagePullPolicy Never run both.
func TestImageImport(t *testing.T) {
	c := sharedCluster(t)
	ns := c.namespace(t)
	agentDir := filepath.Join(c.dir, "agent")

	marked := func(ref, marker string) []byte {
		files, err := image.BusyboxFiles()
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, image.File{Path: "/etc/marker", Data: []byte(marker + "\n")})
		var b bytes.Buffer
		if err := image.WriteImage(&b, ref, files, image.ImageConfig{Cmd: []string{"sh"}}); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	stamp := fmt.Sprint(time.Now().UnixNano())
	imported := "docker.io/corral-e2e/imported:" + stamp
	path := filepath.Join(t.TempDir(), "imported.tar")
	if err := os.WriteFile(path, marked(imported, "imported "+stamp), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(binary, "image", "import", "--data-dir", agentDir, path).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "imported "+path) {
		t.Fatalf("corral image import: %v\n%s", err, out)
	}
	// A file that is no image tarball: an error, and nothing listed.
	junk := filepath.Join(t.TempDir(), "junk.tar")
	writeFile(t, junk, "not a tarball")
	if out, err := exec.Command(binary, "image", "import", "--data-dir", agentDir, junk).CombinedOutput(); err == nil {
		t.Errorf("corral image import of junk succeeded: %s", out)
	} else {
		t.Logf("corral image import of junk: %v: %s", err, strings.TrimSpace(string(out)))
	}
	if !imageListed(t, agentDir, imported) {
		t.Fatalf("corral image ls does not list %s after the import", imported)
	}
	p := shPod("imported", "cat /etc/marker; exec sleep 3600")
	p.Spec.Containers[0].Image = imported
	p.Spec.Containers[0].ImagePullPolicy = corev1.PullNever
	p.Spec.TerminationGracePeriodSeconds = ptrInt64(1)
	c.create(t, ns, p)
	if p := c.waitPod(t, ns, "imported", time.Minute, "Running", running); p.Status.ContainerStatuses[0].ImageID == "" {
		t.Errorf("imported image: no imageID in %+v", p.Status.ContainerStatuses[0])
	}
	waitLogs(t, c, ns, "imported", "", "imported "+stamp+"\n")

	// The auto-import directory, polled every 10 s.
	dropped := "docker.io/corral-e2e/dropped:" + stamp
	data := marked(dropped, "dropped "+stamp)
	start := time.Now()
	if err := image.WriteImageFile(filepath.Join(agentDir, "images", "dropped-"+stamp+".tar"), func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	err = wait.PollUntilContextTimeout(context.Background(), 500*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		return imageListed(t, agentDir, dropped), nil
	})
	if err != nil {
		t.Fatalf("%s not imported from the images directory within 30 s", dropped)
	}
	t.Logf("auto-import picked the tarball up after %s", time.Since(start).Round(100*time.Millisecond))
	p = shPod("dropped", "cat /etc/marker; exec sleep 3600")
	p.Spec.Containers[0].Image = dropped
	p.Spec.Containers[0].ImagePullPolicy = corev1.PullNever
	p.Spec.TerminationGracePeriodSeconds = ptrInt64(1)
	c.create(t, ns, p)
	c.waitPod(t, ns, "dropped", time.Minute, "Running", running)
	waitLogs(t, c, ns, "dropped", "", "dropped "+stamp+"\n")
}

// imageListed reports whether `corral image ls` lists ref.
func imageListed(t *testing.T, agentDir, ref string) bool {
	t.Helper()
	out, err := exec.Command(binary, "image", "ls", "--data-dir", agentDir).CombinedOutput()
	if err != nil {
		t.Fatalf("corral image ls: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 && f[0] == ref {
			return true
		}
	}
	return false
}

func hasEvent(t *testing.T, c *cluster, ns, pod, reason, text string) bool {
	t.Helper()
	evs, err := c.client.CoreV1().Events(ns).List(context.Background(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range evs.Items {
		if e.InvolvedObject.Name == pod && e.Reason == reason && strings.Contains(e.Message, text) {
			return true
		}
	}
	return false
}

// registry is Debian's docker-registry on a loopback port with one
// htpasswd user, its storage and log in a temporary directory.
type registry struct {
	host, user, pass string
	logPath          string
}

func startRegistry(t *testing.T) *registry {
	t.Helper()
	const bin = "/usr/bin/docker-registry"
	if !exists(bin) {
		t.Skip("no docker-registry (apt-get install docker-registry)")
	}
	dir := t.TempDir()
	r := &registry{host: fmt.Sprintf("127.0.0.1:%d", freePort()), user: "e2e", pass: "pull-me-" + fmt.Sprint(time.Now().UnixNano())}
	hash, err := bcrypt.GenerateFromPassword([]byte(r.pass), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, "htpasswd"), r.user+":"+string(hash)+"\n")
	writeFile(t, filepath.Join(dir, "config.yml"), fmt.Sprintf(`version: 0.1
log:
  level: info
  formatter: text
  accesslog: {disabled: true}
storage:
  filesystem: {rootdirectory: %s}
  delete: {enabled: true}
http:
  addr: %s
auth:
  htpasswd: {realm: corral-e2e, path: %s}
`, filepath.Join(dir, "storage"), r.host, filepath.Join(dir, "htpasswd")))
	r.logPath = filepath.Join(dir, "registry.log")
	logf, err := os.Create(r.logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "serve", filepath.Join(dir, "config.yml"))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(r.logPath)
			if len(b) > 6000 {
				b = b[len(b)-6000:]
			}
			t.Logf("registry log tail:\n%s", b)
		}
	})
	// Up when /v2/ asks for credentials.
	err = wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		resp, err := http.Get("http://" + r.host + "/v2/")
		if err != nil {
			return false, nil
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusUnauthorized, nil
	})
	if err != nil {
		b, _ := os.ReadFile(r.logPath)
		t.Fatalf("docker-registry did not come up on %s:\n%s", r.host, b)
	}
	return r
}

// do sends one authenticated request to the registry.
func (r *registry) do(t *testing.T, method, u, contentType string, body []byte) *http.Response {
	t.Helper()
	if !strings.HasPrefix(u, "http") {
		u = "http://" + r.host + u
	}
	req, err := http.NewRequest(method, u, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.SetBasicAuth(r.user, r.pass)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, u, err)
	}
	return resp
}

// push uploads an OCI-layout image tarball (as image.WriteImage writes
// them) as repo:tag through the registry's HTTP API and returns the
// manifest digest.
func (r *registry) push(t *testing.T, tarball []byte, repo, tag string) string {
	t.Helper()
	files := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(tarball))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		files[h.Name] = b
	}
	blob := func(digest string) []byte {
		b, ok := files["blobs/sha256/"+strings.TrimPrefix(digest, "sha256:")]
		if !ok {
			t.Fatalf("image tarball lacks blob %s", digest)
		}
		return b
	}
	var index struct {
		Manifests []struct{ MediaType, Digest string } `json:"manifests"`
	}
	if err := json.Unmarshal(files["index.json"], &index); err != nil || len(index.Manifests) != 1 {
		t.Fatalf("image tarball index.json: %v (%d manifests)", err, len(index.Manifests))
	}
	manifest := blob(index.Manifests[0].Digest)
	var m struct {
		Config struct{ Digest string }   `json:"config"`
		Layers []struct{ Digest string } `json:"layers"`
	}
	if err := json.Unmarshal(manifest, &m); err != nil {
		t.Fatal(err)
	}
	digests := []string{m.Config.Digest}
	for _, l := range m.Layers {
		digests = append(digests, l.Digest)
	}
	for _, d := range digests {
		resp := r.do(t, http.MethodPost, "/v2/"+repo+"/blobs/uploads/", "", nil)
		resp.Body.Close()
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusAccepted || loc == "" {
			t.Fatalf("starting the upload of %s: %s", d, resp.Status)
		}
		u, err := url.Parse(loc)
		if err != nil {
			t.Fatal(err)
		}
		q := u.Query()
		q.Set("digest", d)
		u.RawQuery = q.Encode()
		resp = r.do(t, http.MethodPut, u.String(), "application/octet-stream", blob(d))
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("uploading blob %s: %s %s", d, resp.Status, b)
		}
	}
	resp := r.do(t, http.MethodPut, "/v2/"+repo+"/manifests/"+tag, index.Manifests[0].MediaType, manifest)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("putting the manifest %s:%s: %s %s", repo, tag, resp.Status, b)
	}
	sum := sha256.Sum256(manifest)
	digest := "sha256:" + hex.EncodeToString(sum[:])
	if got := resp.Header.Get("Docker-Content-Digest"); got != digest {
		t.Fatalf("registry stored the manifest as %q, want %s", got, digest)
	}
	return digest
}

// manifestRequests counts the registry's answered requests for
// manifests of repo, from its log.
func (r *registry) manifestRequests(t *testing.T, repo string) int {
	t.Helper()
	b, err := os.ReadFile(r.logPath)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, line := range strings.Split(string(b), "\n") {
		// logrus quotes values only when they need it.
		uri := strings.Contains(line, "http.request.uri=/v2/"+repo+"/manifests/") || strings.Contains(line, `http.request.uri="/v2/`+repo+`/manifests/`)
		if uri && strings.Contains(line, `msg="response completed"`) {
			n++
		}
	}
	return n
}
