package integration

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// kubectlTimeout bounds every kubectl invocation.
const kubectlTimeout = 60 * time.Second

// kubectlBinary is one real kubectl on the machine.
type kubectlBinary struct {
	name  string // subtest name, e.g. "1.28"
	path  string
	minor int // client minor version, from `kubectl version --client`
}

// kubectlBinaries lists the kubectl binaries the matrix runs against;
// missing ones are returned with minor 0 so the caller can skip them.
func kubectlBinaries() []kubectlBinary {
	const sdk = "/usr/lib/google-cloud-sdk/bin/kubectl."
	return []kubectlBinary{
		{name: "usr-bin", path: "/usr/bin/kubectl"},
		{name: "1.27", path: sdk + "1.27"},
		{name: "1.28", path: sdk + "1.28"},
		{name: "1.33", path: sdk + "1.33"},
	}
}

// kubectlClientMinor runs `kubectl version --client -o json` and returns the
// client's minor version ("32+" counts as 32).
func kubectlClientMinor(path string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), kubectlTimeout)
	defer cancel()
	out, err := exec.CommandContext(ctx, path, "version", "--client", "-o", "json").Output()
	if err != nil {
		return 0, err
	}
	var v struct {
		ClientVersion struct{ Minor string } `json:"clientVersion"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		return 0, err
	}
	return strconv.Atoi(strings.TrimRight(v.ClientVersion.Minor, "+"))
}

// kctl runs one kubectl binary against the shared server, in one namespace.
type kctl struct {
	t    *testing.T
	bin  kubectlBinary
	home string // HOME for kubectl: its own discovery cache per binary
	ns   string
	dir  string // scratch directory for manifests and scripts
	env  []string
}

// kres is the outcome of one kubectl command.
type kres struct {
	t      *testing.T
	cmd    string
	stdout string
	stderr string
	code   int
}

// newKctl creates a fresh namespace (with client-go; the `create namespace`
// case covers kubectl's own verb) and returns a runner bound to it.
func newKctl(t *testing.T, bin kubectlBinary, home, suffix string) *kctl {
	t.Helper()
	ns := kubectlNSName(bin.name, suffix)
	c := clientset(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("creating namespace %s: %v", ns, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = c.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{})
	})
	return &kctl{t: t, bin: bin, home: home, ns: ns, dir: t.TempDir()}
}

// kubectlANSI matches terminal colour escapes (cluster-info prints some).
var kubectlANSI = regexp.MustCompile("\x1b\\[[0-9;]*m")

var kubectlNSUnsafe = regexp.MustCompile(`[^a-z0-9-]+`)

// kubectlNSName builds a DNS-label namespace name from a binary and case name.
func kubectlNSName(bin, suffix string) string {
	n := kubectlNSUnsafe.ReplaceAllString(strings.ToLower("kc-"+bin+"-"+suffix), "-")
	if len(n) > 63 {
		n = n[:63]
	}
	return strings.Trim(n, "-")
}

// environ is the environment kubectl runs with: the shared server's
// kubeconfig and nothing pointing at any other cluster.
func (k *kctl) environ(extra ...string) []string {
	var env []string
	for _, e := range os.Environ() {
		switch strings.SplitN(e, "=", 2)[0] {
		case "KUBECONFIG", "HOME", "KUBE_EDITOR", "EDITOR", "KUBECTL_EXTERNAL_DIFF", "KUBECACHEDIR":
			continue
		}
		env = append(env, e)
	}
	env = append(env, "KUBECONFIG="+shared.Kubeconfig, "HOME="+k.home)
	env = append(env, k.env...)
	return append(env, extra...)
}

// exec runs kubectl with args exactly as given (no namespace added).
func (k *kctl) exec(stdin string, env []string, args ...string) *kres {
	k.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), kubectlTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, k.bin.path, args...)
	cmd.Env = k.environ(env...)
	cmd.Dir = k.dir
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := &kres{t: k.t, cmd: "kubectl " + strings.Join(args, " "), stdout: out.String(), stderr: errb.String()}
	if ctx.Err() != nil {
		r.code = -1
		r.stderr += fmt.Sprintf("\n[timed out after %s]", kubectlTimeout)
	} else if ee, ok := err.(*exec.ExitError); ok {
		r.code = ee.ExitCode()
	} else if err != nil {
		k.t.Fatalf("running %s: %v", r.cmd, err)
	}
	return r
}

// run runs kubectl in the test's namespace.
func (k *kctl) run(args ...string) *kres {
	k.t.Helper()
	return k.exec("", nil, append(args, "-n", k.ns)...)
}

// in runs kubectl in the test's namespace with stdin (for `-f -`).
func (k *kctl) in(stdin string, args ...string) *kres {
	k.t.Helper()
	return k.exec(stdin, nil, append(args, "-n", k.ns)...)
}

// global runs kubectl without a namespace flag.
func (k *kctl) global(args ...string) *kres {
	k.t.Helper()
	return k.exec("", nil, args...)
}

// file writes a scratch file and returns its path.
func (k *kctl) file(name, content string, mode os.FileMode) string {
	k.t.Helper()
	p := filepath.Join(k.dir, name)
	if err := os.WriteFile(p, []byte(content), mode); err != nil {
		k.t.Fatal(err)
	}
	return p
}

// jsonpath returns `kubectl get <what> -o jsonpath=<expr>`, requiring success.
func (k *kctl) jsonpath(expr string, what ...string) string {
	k.t.Helper()
	args := append([]string{"get"}, what...)
	return k.run(append(args, "-o", "jsonpath="+expr)...).ok().stdout
}

func (r *kres) String() string {
	return fmt.Sprintf("%s\n  exit: %d\n  stdout: %q\n  stderr: %q", r.cmd, r.code, kubectlClip(r.stdout), kubectlClip(r.stderr))
}

func kubectlClip(s string) string {
	if len(s) > 3000 {
		return s[:3000] + "...(clipped)"
	}
	return s
}

// ok asserts exit code 0.
func (r *kres) ok() *kres {
	r.t.Helper()
	if r.code != 0 {
		r.t.Errorf("want exit 0: %s", r)
	}
	return r
}

// must is ok, but stops the test: later steps depend on this one.
func (r *kres) must() *kres {
	r.t.Helper()
	if r.code != 0 {
		r.t.Fatalf("want exit 0 (later steps depend on it): %s", r)
	}
	return r
}

// exit asserts an exact exit code.
func (r *kres) exit(code int) *kres {
	r.t.Helper()
	if r.code != code {
		r.t.Errorf("want exit %d: %s", code, r)
	}
	return r
}

// fails asserts a non-zero exit code (but not a timeout).
func (r *kres) fails() *kres {
	r.t.Helper()
	if r.code <= 0 {
		r.t.Errorf("want a failing exit code: %s", r)
	}
	return r
}

// has asserts stdout contains every string.
func (r *kres) has(subs ...string) *kres {
	r.t.Helper()
	for _, s := range subs {
		if !strings.Contains(r.stdout, s) {
			r.t.Errorf("want stdout to contain %q: %s", s, r)
		}
	}
	return r
}

// lacks asserts stdout contains none of the strings.
func (r *kres) lacks(subs ...string) *kres {
	r.t.Helper()
	for _, s := range subs {
		if strings.Contains(r.stdout, s) {
			r.t.Errorf("want stdout not to contain %q: %s", s, r)
		}
	}
	return r
}

// errHas asserts stderr contains one of the alternatives (case-insensitive).
func (r *kres) errHas(alternatives ...string) *kres {
	r.t.Helper()
	low := strings.ToLower(r.stderr)
	for _, s := range alternatives {
		if strings.Contains(low, strings.ToLower(s)) {
			return r
		}
	}
	r.t.Errorf("want stderr to contain one of %q: %s", alternatives, r)
	return r
}

// is asserts the trimmed stdout equals want.
func (r *kres) is(want string) *kres {
	r.t.Helper()
	if got := strings.TrimSpace(r.stdout); got != want {
		r.t.Errorf("want stdout %q, got %q: %s", want, got, r)
	}
	return r
}

// header asserts the first stdout line, whitespace-normalised, equals want.
func (r *kres) header(want string) *kres {
	r.t.Helper()
	first, _, _ := strings.Cut(r.stdout, "\n")
	if got := strings.Join(strings.Fields(first), " "); got != want {
		r.t.Errorf("want header %q, got %q: %s", want, got, r)
	}
	return r
}

// row returns the whitespace-split fields of the first stdout line starting
// with prefix, or nil.
func (r *kres) row(prefix string) []string {
	for _, l := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(l, prefix) {
			return strings.Fields(l)
		}
	}
	return nil
}

// kubectlPoll calls cond every 250 ms until it returns true or d passes.
func kubectlPoll(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// kubectlBackground is a kubectl left running (get -w) whose output is read
// while it runs.
type kubectlBackground struct {
	cmd    *exec.Cmd
	cancel context.CancelFunc
	mu     sync.Mutex
	out    bytes.Buffer
	done   chan struct{}
}

func (b *kubectlBackground) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.out.Write(p)
}

// output returns what the command wrote so far (stdout and stderr).
func (b *kubectlBackground) output() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.out.String()
}

// stop kills the command and waits for it.
func (b *kubectlBackground) stop() {
	b.cancel()
	<-b.done
}

// start runs kubectl in the test's namespace in the background, killed
// after timeout at the latest.
func (k *kctl) start(timeout time.Duration, args ...string) *kubectlBackground {
	k.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	b := &kubectlBackground{cancel: cancel, done: make(chan struct{})}
	b.cmd = exec.CommandContext(ctx, k.bin.path, append(args, "-n", k.ns)...)
	b.cmd.Env = k.environ()
	b.cmd.Dir = k.dir
	b.cmd.Stdout, b.cmd.Stderr = b, b
	if err := b.cmd.Start(); err != nil {
		cancel()
		k.t.Fatal(err)
	}
	go func() { _ = b.cmd.Wait(); close(b.done) }()
	k.t.Cleanup(b.stop)
	return b
}
