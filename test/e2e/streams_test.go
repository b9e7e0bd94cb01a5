package e2e

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

// The streaming verbs of the real kubectl 1.32 through the API server and
// the agent to containerd's streaming server: logs (tail, timestamps,
// since, -c, -f, --previous), exec (-i, -t, -c, exit codes), attach, cp and
// port-forward. The pods are created together and the verbs run as
// subtests, so the file costs one pod start-up.
func TestKubectlStreams(t *testing.T) {
	c := sharedCluster(t)
	ns := c.namespace(t)

	// printer: numbered lines on both streams, spaced so that their order
	// in the CRI log is the order they were written; a second container.
	printer := shPod("printer", "for i in 1 2 3 4 5; do echo out $i; usleep 50000; echo err $i >&2; usleep 50000; done; exec sleep 3600")
	printer.Spec.Containers = append(printer.Spec.Containers, corev1.Container{
		Name: "side", Image: busybox, Command: []string{"sh", "-c", "echo side says hi; exec sleep 3600"},
		Env: []corev1.EnvVar{{Name: "WHO", Value: "side"}}})
	printer.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "WHO", Value: "main"}}
	printer.Spec.TerminationGracePeriodSeconds = ptrInt64(1)
	// follower: one line, another once told to.
	follower := shPod("follower", "echo start; while [ ! -f /tmp/go ]; do usleep 100000; done; echo after; sleep 1")
	follower.Spec.RestartPolicy = corev1.RestartPolicyNever
	follower.Spec.TerminationGracePeriodSeconds = ptrInt64(1)
	// restarter: the first attempt fails, the second stays up.
	restarter := shPod("restarter", "n=$(cat /d/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /d/n; echo attempt $n; [ $n -ge 2 ] && exec sleep 3600; exit 1")
	restarter.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "d", MountPath: "/d"}}
	restarter.Spec.Volumes = []corev1.Volume{{Name: "d", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}
	restarter.Spec.TerminationGracePeriodSeconds = ptrInt64(1)
	// attachee: answers every line of its stdin.
	attachee := shPod("attachee", "while read l; do echo got $l; done")
	attachee.Spec.Containers[0].Stdin = true
	attachee.Spec.TerminationGracePeriodSeconds = ptrInt64(1)
	// web: busybox httpd on 8080.
	web := shPod("web", "mkdir -p /www; echo hello through the tunnel > /www/index.html; exec httpd -f -p 8080 -h /www")
	web.Spec.TerminationGracePeriodSeconds = ptrInt64(1)
	// longline: one 40,000-byte line, which containerd splits into
	// partial (P) records of at most 16 KiB in the CRI log.
	longline := shPod("longline", "head -c 40000 /dev/zero | tr '\\0' x; echo; echo next; exec sleep 3600")
	longline.Spec.TerminationGracePeriodSeconds = ptrInt64(1)
	// stuck: its container never starts (no such image, pull policy Never).
	stuck := shPod("stuck", "true")
	stuck.Spec.Containers[0].Image = "docker.io/corral-e2e/absent:1"
	stuck.Spec.Containers[0].ImagePullPolicy = corev1.PullNever
	// rotator: once told, 12 MB of log (over the agent's 10 MiB rotation
	// size), then a numbered tick every 100 ms.
	rotator := shPod("rotator", "while [ ! -f /tmp/go ]; do usleep 100000; done; "+
		`awk 'BEGIN { s = sprintf("%1000s", ""); for (i = 0; i < 12000; i++) print "bulk " i s }'; `+
		"i=0; while true; do echo tick $i; i=$((i+1)); usleep 100000; done")
	rotator.Spec.TerminationGracePeriodSeconds = ptrInt64(1)
	for _, p := range []*corev1.Pod{printer, follower, restarter, attachee, web, longline, stuck, rotator} {
		c.create(t, ns, p)
	}
	for _, name := range []string{"printer", "follower", "attachee", "web"} {
		c.waitPod(t, ns, name, 2*time.Minute, "Running", running)
	}
	// All five pairs of lines are out once the loop has run (0.5 s).
	waitLogs(t, c, ns, "printer", "main", "err 5\n")

	t.Run("logs", func(t *testing.T) {
		want := "out 1\nerr 1\nout 2\nerr 2\nout 3\nerr 3\nout 4\nerr 4\nout 5\nerr 5\n"
		if out := c.mustKubectl(t, "-n", ns, "logs", "printer", "-c", "main"); out != want {
			t.Errorf("kubectl logs: got %q, want %q", out, want)
		}
		if out := c.mustKubectl(t, "-n", ns, "logs", "printer", "-c", "main", "--tail=3"); out != "err 4\nout 5\nerr 5\n" {
			t.Errorf("kubectl logs --tail=3: got %q", out)
		}
		if out := c.mustKubectl(t, "-n", ns, "logs", "printer", "-c", "main", "--since=1h"); out != want {
			t.Errorf("kubectl logs --since=1h: got %q, want everything", out)
		}
		// The lines are older than a second by now (the pod had to be
		// Running and the loop has run): --since=1s filters all out.
		time.Sleep(1500 * time.Millisecond)
		if out := c.mustKubectl(t, "-n", ns, "logs", "printer", "-c", "main", "--since=1s"); out != "" {
			t.Errorf("kubectl logs --since=1s of lines written over a second ago: got %q, want nothing", out)
		}
		future := time.Now().Add(time.Hour).UTC().Format(time.RFC3339)
		if out := c.mustKubectl(t, "-n", ns, "logs", "printer", "-c", "main", "--since-time="+future); out != "" {
			t.Errorf("kubectl logs --since-time=%s: got %q, want nothing", future, out)
		}
		stamped := regexp.MustCompile(`^(\S+) (.*)$`)
		out := c.mustKubectl(t, "-n", ns, "logs", "printer", "-c", "main", "--timestamps")
		lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
		wantLines := strings.Split(strings.TrimSuffix(want, "\n"), "\n")
		if len(lines) != len(wantLines) {
			t.Fatalf("kubectl logs --timestamps: %d lines, want %d: %q", len(lines), len(wantLines), out)
		}
		var prev time.Time
		for i, l := range lines {
			m := stamped.FindStringSubmatch(l)
			if m == nil || m[2] != wantLines[i] {
				t.Fatalf("kubectl logs --timestamps line %d: %q, want \"<RFC3339> %s\"", i, l, wantLines[i])
			}
			ts, err := time.Parse(time.RFC3339Nano, m[1])
			if err != nil {
				t.Fatalf("kubectl logs --timestamps line %d: %q is not RFC3339: %v", i, m[1], err)
			}
			if ts.Before(prev) || time.Since(ts) > 5*time.Minute || time.Until(ts) > time.Minute {
				t.Fatalf("kubectl logs --timestamps line %d: implausible time %s", i, ts)
			}
			prev = ts
		}
		if out := c.mustKubectl(t, "-n", ns, "logs", "printer", "-c", "main", "--limit-bytes=8"); out != "out 1\ner" {
			t.Errorf("kubectl logs --limit-bytes=8: got %q", out)
		}
		if out := c.mustKubectl(t, "-n", ns, "logs", "printer", "--all-containers", "--prefix"); !strings.Contains(out, "[pod/printer/main] out 1\n") || !strings.Contains(out, "[pod/printer/side] side says hi\n") {
			t.Errorf("kubectl logs --all-containers --prefix: got %q", out)
		}
		if out := c.mustKubectl(t, "-n", ns, "logs", "printer", "-c", "side"); out != "side says hi\n" {
			t.Errorf("kubectl logs -c side: got %q", out)
		}
		out, err := c.kubectl(t, "-n", ns, "logs", "printer", "-c", "nope")
		if err == nil || !strings.Contains(out, "container nope is not valid for pod printer") {
			t.Errorf("kubectl logs -c nope: want an error naming the container, got err=%v %q", err, out)
		}
	})

	t.Run("logs-follow", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := c.kubectlCmd(ctx, "-n", ns, "logs", "-f", "follower")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		lines := lineReader(stdout)
		if l := nextLine(t, lines, 20*time.Second); l != "start" {
			t.Fatalf("kubectl logs -f: first line %q, want start (stderr %q)", l, stderr.String())
		}
		// "after" is written only now, while kubectl follows.
		c.mustKubectl(t, "-n", ns, "exec", "follower", "--", "touch", "/tmp/go")
		if l := nextLine(t, lines, 20*time.Second); l != "after" {
			t.Fatalf("kubectl logs -f: second line %q, want after (stderr %q)", l, stderr.String())
		}
		// The container ends a second later: so does the stream.
		select {
		case l, ok := <-lines:
			if ok {
				t.Fatalf("kubectl logs -f: unexpected line %q", l)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("kubectl logs -f still follows 30 s after the container ended")
		}
		if err := cmd.Wait(); err != nil {
			t.Errorf("kubectl logs -f after the container ended: %v (stderr %q)", err, stderr.String())
		}
	})

	t.Run("logs-previous", func(t *testing.T) {
		c.waitPod(t, ns, "restarter", 2*time.Minute, "running after a restart", func(p *corev1.Pod) bool {
			return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 1 &&
				p.Status.ContainerStatuses[0].State.Running != nil
		})
		if out := c.mustKubectl(t, "-n", ns, "logs", "restarter", "--previous"); out != "attempt 1\n" {
			t.Errorf("kubectl logs --previous: got %q, want the first attempt's output", out)
		}
		waitLogs(t, c, ns, "restarter", "", "attempt 2\n")
		if out := c.mustKubectl(t, "-n", ns, "logs", "restarter"); out != "attempt 2\n" {
			t.Errorf("kubectl logs after a restart: got %q, want the running attempt's output", out)
		}
		// No earlier attempt: a clear error.
		out, err := c.kubectl(t, "-n", ns, "logs", "follower", "--previous")
		if err == nil || !strings.Contains(out, `previous terminated container "main" in pod "follower" not found`) {
			t.Errorf("kubectl logs --previous without a restart: err=%v %q", err, out)
		}
	})

	t.Run("exec", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := c.kubectlCmd(ctx, "-n", ns, "exec", "printer", "-c", "main", "--", "sh", "-c", "echo out; echo err >&2; exit 3")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 {
			t.Errorf("kubectl exec ... exit 3: want kubectl's exit code 3, got %v", err)
		}
		if stdout.String() != "out\n" || !strings.HasPrefix(stderr.String(), "err\n") {
			t.Errorf("kubectl exec: stdout %q (want \"out\\n\"), stderr %q (want \"err\\n\" first)", stdout.String(), stderr.String())
		}

		// -i: stdin reaches the command, and its end ends the command.
		payload := "line one\nline two\n"
		cmd = c.kubectlCmd(ctx, "-n", ns, "exec", "-i", "printer", "-c", "main", "--", "cat")
		cmd.Stdin = strings.NewReader(payload)
		out, err := cmd.CombinedOutput()
		if err != nil || string(out) != payload {
			t.Errorf("kubectl exec -i cat: err=%v, output %q, want %q", err, out, payload)
		}

		// -c: each container has its own environment.
		if out := c.mustKubectl(t, "-n", ns, "exec", "printer", "-c", "side", "--", "sh", "-c", "echo $WHO"); out != "side\n" {
			t.Errorf("kubectl exec -c side: WHO=%q, want side", out)
		}
		out2, err := c.kubectl(t, "-n", ns, "exec", "printer", "-c", "nope", "--", "true")
		if err == nil || !strings.Contains(out2, "container nope is not valid for pod printer") {
			t.Errorf("kubectl exec -c nope: err=%v %q", err, out2)
		}
	})

	// Errors as kubectl and kubelet word them (kubectl itself refuses
	// completed pods).
	t.Run("errors", func(t *testing.T) {
		c.waitPod(t, ns, "follower", time.Minute, "Succeeded", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
		c.waitPod(t, ns, "stuck", time.Minute, "ErrImageNeverPull", func(p *corev1.Pod) bool {
			return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Waiting != nil &&
				p.Status.ContainerStatuses[0].State.Waiting.Reason == "ErrImageNeverPull"
		})
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"exec", "follower", "--", "true"}, "cannot exec into a container in a completed pod; current phase is Succeeded"},
			{[]string{"attach", "follower"}, "cannot attach a container in a completed pod; current phase is Succeeded"},
			{[]string{"exec", "stuck", "--", "true"}, `container not found ("main")`},
			{[]string{"logs", "stuck"}, `container "main" in pod "stuck" is waiting to start: ErrImageNeverPull`},
		} {
			for _, websockets := range []string{"true", "false"} {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				cmd := c.kubectlCmd(ctx, append([]string{"-n", ns}, tc.args...)...)
				cmd.Env = append(os.Environ(), "KUBECTL_REMOTE_COMMAND_WEBSOCKETS="+websockets)
				out, err := cmd.CombinedOutput()
				cancel()
				if err == nil || !strings.Contains(string(out), tc.want) {
					t.Errorf("kubectl %s (websockets %s): want an error saying %q, got err=%v %q", strings.Join(tc.args, " "), websockets, tc.want, err, out)
				} else {
					t.Logf("kubectl %s (websockets %s): %s", strings.Join(tc.args, " "), websockets, strings.TrimSpace(string(out)))
				}
			}
		}
	})

	t.Run("exec-tty", func(t *testing.T) {
		script, err := exec.LookPath("script")
		if err != nil {
			t.Skip("no script(1) (bsdutils) to give kubectl a terminal")
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// The terminal's size reaches the container through the resize
		// stream, shortly after the process starts (as with kubelet: the
		// first resize message races the command).
		line := fmt.Sprintf("stty rows 42 cols 123; /usr/bin/kubectl --kubeconfig %s -n %s exec -it printer -c main -- sh -c '%s'", c.kubeconfig, ns,
			`tty; test -t 0 && echo stdin is a terminal; for i in $(seq 50); do s=$(stty size 2>/dev/null); [ "$s" = "42 123" ] && break; usleep 100000; done; echo size $s; echo bye`)
		for _, websockets := range []string{"true", "false"} {
			cmd := exec.CommandContext(ctx, script, "-qec", line, "/dev/null")
			cmd.Env = append(os.Environ(), "KUBECTL_REMOTE_COMMAND_WEBSOCKETS="+websockets)
			// script copies its stdin to the terminal; kubectl sends that
			// to the remote shell, which does not read it.
			cmd.Stdin = strings.NewReader("")
			out, err := cmd.CombinedOutput()
			s := strings.ReplaceAll(string(out), "\r\n", "\n")
			if err != nil {
				t.Fatalf("kubectl exec -it under script (websockets %s): %v\n%s", websockets, err, s)
			}
			if !strings.Contains(s, "/dev/pts/") || !strings.Contains(s, "stdin is a terminal") || !strings.Contains(s, "size 42 123\n") || !strings.Contains(s, "bye") {
				t.Errorf("kubectl exec -it (websockets %s): want a terminal in the container, got %q", websockets, s)
			}
			t.Logf("kubectl exec -it under script (websockets %s): %q", websockets, s)
		}
	})

	t.Run("attach", func(t *testing.T) {
		for _, websockets := range []string{"true", "false"} {
			attachOnce(t, c, ns, "attachee", websockets)
		}
	})

	t.Run("logs-long-line", func(t *testing.T) {
		waitLogs(t, c, ns, "longline", "", "\nnext\n")
		want := strings.Repeat("x", 40000) + "\nnext\n"
		if out := c.mustKubectl(t, "-n", ns, "logs", "longline"); out != want {
			t.Errorf("kubectl logs of a 40,000-byte line: got %d bytes (%d lines), want the line whole", len(out), strings.Count(out, "\n"))
		}
		if out := c.mustKubectl(t, "-n", ns, "logs", "longline", "--tail=1"); out != "next\n" {
			t.Errorf("kubectl logs --tail=1 after a long line: %q", out)
		}
	})

	// Rotation by size (the agent's housekeeping, every 10 s) under a
	// follower: kubectl logs -f goes on into the new file.
	t.Run("logs-rotation", func(t *testing.T) {
		c.waitPod(t, ns, "rotator", time.Minute, "Running", running)
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := c.kubectlCmd(ctx, "-n", ns, "logs", "-f", "rotator")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		lines := lineReader(stdout)
		c.mustKubectl(t, "-n", ns, "exec", "rotator", "--", "touch", "/tmp/go")
		pattern := filepath.Join(c.dir, "agent", "pods", "logs", ns+"_rotator_*", "main", "0.log.*")
		start := time.Now()
		bulk, lastTick, tickAtRotation, rotatedAt := 0, -1, -1, time.Duration(0)
		for {
			l, ok := tryLine(lines, 30*time.Second)
			if !ok {
				t.Fatalf("kubectl logs -f stopped: %d bulk lines, last tick %d, rotated after %s (stderr %q)", bulk, lastTick, rotatedAt, stderr.String())
			}
			var n int
			switch {
			case strings.HasPrefix(l, "bulk "):
				if _, err := fmt.Sscanf(l, "bulk %d", &n); err != nil || n != bulk {
					t.Fatalf("bulk line %d missing or out of order: %.40q", bulk, l)
				}
				bulk++
			case strings.HasPrefix(l, "tick "):
				if _, err := fmt.Sscanf(l, "tick %d", &n); err != nil || n != lastTick+1 {
					t.Fatalf("after tick %d: %q", lastTick, l)
				}
				lastTick = n
			default:
				t.Fatalf("unexpected line %.60q", l)
			}
			if rotatedAt == 0 {
				if m, _ := filepath.Glob(pattern); len(m) > 0 {
					rotatedAt = time.Since(start)
					// The rotated file is complete once the runtime
					// reopened its log; its last tick is the bound.
					time.Sleep(500 * time.Millisecond)
					b, err := os.ReadFile(m[0])
					if err != nil {
						t.Fatal(err)
					}
					for _, line := range strings.Split(string(b), "\n") {
						var n int
						if i := strings.Index(line, " F tick "); i > 0 {
							if _, err := fmt.Sscanf(line[i:], " F tick %d", &n); err == nil && n > tickAtRotation {
								tickAtRotation = n
							}
						}
					}
					t.Logf("rotated after %s into %s, whose last tick is %d; following at bulk %d, tick %d",
						rotatedAt.Round(100*time.Millisecond), filepath.Base(m[0]), tickAtRotation, bulk, lastTick)
				}
			}
			// Done: five ticks read that only the new file holds.
			if rotatedAt > 0 && lastTick >= tickAtRotation+5 {
				break
			}
		}
		if bulk != 12000 {
			t.Errorf("followed %d bulk lines, want 12000", bulk)
		}
		// Without -f, kubectl logs shows the current file, as kubelet.
		if out := c.mustKubectl(t, "-n", ns, "logs", "rotator", "--tail=1"); !strings.HasPrefix(out, "tick ") {
			t.Errorf("kubectl logs --tail=1 after rotation: %.60q", out)
		}
	})

	t.Run("exec-bulk", func(t *testing.T) {
		// 8 MiB out of the container: flow control across the hops.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := c.kubectlCmd(ctx, "-n", ns, "exec", "printer", "-c", "main", "--", "head", "-c", "8388608", "/dev/zero")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil || len(out) != 8<<20 || bytes.Count(out, []byte{0}) != 8<<20 {
			t.Errorf("kubectl exec of 8 MiB: err=%v, %d bytes (stderr %q)", err, len(out), stderr.String())
		}
	})

	t.Run("cp", func(t *testing.T) {
		dir := t.TempDir()
		data := make([]byte, 200<<10)
		if _, err := rand.Read(data); err != nil {
			t.Fatal(err)
		}
		src, back := filepath.Join(dir, "payload.bin"), filepath.Join(dir, "back.bin")
		if err := os.WriteFile(src, data, 0o644); err != nil {
			t.Fatal(err)
		}
		c.mustKubectl(t, "-n", ns, "cp", "-c", "main", src, "printer:/tmp/payload.bin")
		if out := c.mustKubectl(t, "-n", ns, "exec", "printer", "-c", "main", "--", "wc", "-c", "/tmp/payload.bin"); !strings.HasPrefix(strings.TrimSpace(out), fmt.Sprint(len(data))) {
			t.Fatalf("after kubectl cp in: wc -c says %q, want %d bytes", out, len(data))
		}
		c.mustKubectl(t, "-n", ns, "cp", "-c", "main", "printer:/tmp/payload.bin", back)
		got, err := os.ReadFile(back)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, data) {
			t.Fatalf("kubectl cp round trip: %d bytes back, want the same %d bytes", len(got), len(data))
		}
	})

	t.Run("port-forward", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		// -v=7 shows the upgrade request, to tell which protocol kubectl used.
		cmd := c.kubectlCmd(ctx, "-v=7", "-n", ns, "port-forward", "--address", "127.0.0.1", "pod/web", ":8080")
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
		lines := lineReader(stdout)
		l := nextLine(t, lines, 20*time.Second)
		m := regexp.MustCompile(`^Forwarding from 127\.0\.0\.1:(\d+) -> 8080$`).FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("kubectl port-forward said %q (stderr %q)", l, stderr.String())
		}
		go func() { // kubectl logs "Handling connection" lines; keep the pipe drained
			for range lines {
			}
		}()
		for i := 0; i < 2; i++ {
			body := httpGet(t, "http://"+net.JoinHostPort("127.0.0.1", m[1])+"/index.html")
			if body != "hello through the tunnel\n" {
				t.Fatalf("GET %d through port-forward: %q (stderr %q)", i, body, stderr.String())
			}
		}
		// Five at once: one stream pair each in the same connection.
		bodies := make(chan string, 5)
		for i := 0; i < 5; i++ {
			go func() {
				req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://127.0.0.1:"+m[1]+"/index.html", nil)
				resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
				if err != nil {
					bodies <- err.Error()
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				bodies <- string(b)
			}()
		}
		for i := 0; i < 5; i++ {
			if b := <-bodies; b != "hello through the tunnel\n" {
				t.Errorf("concurrent GET through port-forward: %q", b)
			}
		}
		// A port nothing listens on: the error reaches kubectl, and the
		// connection is closed without an answer.
		refused := c.kubectlCmd(ctx, "-n", ns, "port-forward", "--address", "127.0.0.1", "pod/web", ":9999")
		refusedOut, err := refused.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		var refusedErr bytes.Buffer
		refused.Stderr = &refusedErr
		if err := refused.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = refused.Process.Kill(); _ = refused.Wait() }()
		rl := lineReader(refusedOut)
		m2 := regexp.MustCompile(`^Forwarding from 127\.0\.0\.1:(\d+) -> 9999$`).FindStringSubmatch(nextLine(t, rl, 20*time.Second))
		if m2 == nil {
			t.Fatal("kubectl port-forward :9999 did not say where it listens")
		}
		go func() {
			for range rl {
			}
		}()
		if conn, err := net.DialTimeout("tcp", "127.0.0.1:"+m2[1], 5*time.Second); err == nil {
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			fmt.Fprintf(conn, "GET / HTTP/1.0\r\n\r\n")
			b, _ := io.ReadAll(conn)
			conn.Close()
			if len(b) != 0 {
				t.Errorf("port-forward to a closed port answered %q", b)
			}
		}
		_ = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
			return strings.Contains(refusedErr.String(), "connection refused"), nil
		})
		if !strings.Contains(refusedErr.String(), "connection refused") {
			t.Errorf("kubectl port-forward to a closed port: want \"connection refused\" on stderr, got %q", refusedErr.String())
		}
		t.Logf("port-forward to a closed port: %s", strings.TrimSpace(refusedErr.String()))

		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		log := stderr.String()
		if !strings.Contains(log, "Sec-Websocket-Protocol: SPDY/3.1+portforward.k8s.io") || strings.Contains(strings.ToLower(log), "fallback") {
			t.Errorf("kubectl port-forward did not tunnel SPDY over WebSocket without falling back:\n%s", log)
		}
	})

	// The SPDY path, which kubectl takes when told not to use WebSocket
	// (and older clients always take): proxied to the agent unchanged.
	t.Run("spdy", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		cmd := c.kubectlCmd(ctx, "-v=7", "-n", ns, "exec", "-i", "printer", "-c", "main", "--", "sh", "-c", "cat; echo err >&2; exit 4")
		cmd.Env = append(os.Environ(), "KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false")
		cmd.Stdin = strings.NewReader("over spdy\n")
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 4 {
			t.Errorf("kubectl exec over SPDY: want exit code 4, got %v\n%s", err, stderr.String())
		}
		if stdout.String() != "over spdy\n" || !strings.Contains(stderr.String(), "\nerr\n") {
			t.Errorf("kubectl exec over SPDY: stdout %q, stderr %q", stdout.String(), stderr.String())
		}
		if !strings.Contains(stderr.String(), "X-Stream-Protocol-Version: v4.channel.k8s.io") || strings.Contains(stderr.String(), "Sec-Websocket-Protocol") {
			t.Errorf("kubectl exec with KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false did not use SPDY:\n%s", stderr.String())
		}

		pf := c.kubectlCmd(ctx, "-n", ns, "port-forward", "--address", "127.0.0.1", "pod/web", ":8080")
		pf.Env = append(os.Environ(), "KUBECTL_PORT_FORWARD_WEBSOCKETS=false")
		pfOut, err := pf.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := pf.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { _ = pf.Process.Kill(); _ = pf.Wait() }()
		lines := lineReader(pfOut)
		m := regexp.MustCompile(`^Forwarding from 127\.0\.0\.1:(\d+) -> 8080$`).FindStringSubmatch(nextLine(t, lines, 20*time.Second))
		if m == nil {
			t.Fatal("kubectl port-forward over SPDY did not say where it listens")
		}
		go func() {
			for range lines {
			}
		}()
		if body := httpGet(t, "http://127.0.0.1:"+m[1]+"/index.html"); body != "hello through the tunnel\n" {
			t.Fatalf("GET through port-forward over SPDY: %q", body)
		}
	})

	// Other kubectl releases: 1.27 and 1.28 speak SPDY only, later ones
	// try WebSocket first (port-forward from 1.30).
	t.Run("kubectl-versions", func(t *testing.T) {
		for minor := 27; minor <= 33; minor++ {
			bin := fmt.Sprintf("/usr/lib/google-cloud-sdk/bin/kubectl.1.%d", minor)
			if !exists(bin) {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			cmd := exec.CommandContext(ctx, bin, "--kubeconfig", c.kubeconfig, "-n", ns, "exec", "-i", "printer", "-c", "main", "--", "sh", "-c", "cat; exit 5")
			cmd.Stdin = strings.NewReader("from 1." + fmt.Sprint(minor) + "\n")
			out, err := cmd.Output()
			if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 5 || string(out) != "from 1."+fmt.Sprint(minor)+"\n" {
				t.Errorf("kubectl 1.%d exec -i: err=%v, output %q", minor, err, out)
			}
			if minor == 27 || minor == 33 {
				pf := exec.CommandContext(ctx, bin, "--kubeconfig", c.kubeconfig, "-n", ns, "port-forward", "--address", "127.0.0.1", "pod/web", ":8080")
				pfOut, err := pf.StdoutPipe()
				if err != nil {
					t.Fatal(err)
				}
				if err := pf.Start(); err != nil {
					t.Fatal(err)
				}
				lines := lineReader(pfOut)
				m := regexp.MustCompile(`^Forwarding from 127\.0\.0\.1:(\d+) -> 8080$`).FindStringSubmatch(nextLine(t, lines, 20*time.Second))
				if m == nil {
					t.Errorf("kubectl 1.%d port-forward did not say where it listens", minor)
				} else if body := httpGet(t, "http://127.0.0.1:"+m[1]+"/index.html"); body != "hello through the tunnel\n" {
					t.Errorf("kubectl 1.%d port-forward: GET gave %q", minor, body)
				}
				_ = pf.Process.Kill()
				_ = pf.Wait()
			}
			cancel()
		}
	})

	// Which protocol kubectl used: it tries WebSocket first and says so
	// at -v=7 when it falls back to SPDY.
	t.Run("protocol", func(t *testing.T) {
		out, err := c.kubectl(t, "-v=7", "-n", ns, "exec", "printer", "-c", "main", "--", "true")
		if err != nil {
			t.Fatalf("kubectl -v=7 exec: %v\n%s", err, out)
		}
		if strings.Contains(strings.ToLower(out), "fallback") {
			t.Errorf("kubectl exec fell back from WebSocket to SPDY:\n%s", out)
		}
		if !strings.Contains(out, "v5.channel.k8s.io") {
			t.Errorf("kubectl exec did not negotiate v5.channel.k8s.io:\n%s", out)
		}
		t.Logf("kubectl -v=7 exec:\n%s", out)
	})
}

// kubectlCmd is the real kubectl against the cluster, to be started by
// the caller (for streams that outlive one call).
func (c *cluster) kubectlCmd(ctx context.Context, args ...string) *exec.Cmd {
	return exec.CommandContext(ctx, "/usr/bin/kubectl", append([]string{"--kubeconfig", c.kubeconfig}, args...)...)
}

// attachOnce attaches to pod's stdin and stdout, sends lines until one
// is answered with "got <line>", and detaches; websockets says whether
// kubectl may use WebSocket ("true") or must use SPDY ("false").
func attachOnce(t *testing.T, c *cluster, ns, pod, websockets string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := c.kubectlCmd(ctx, "-n", ns, "attach", "-i", pod)
	cmd.Env = append(os.Environ(), "KUBECTL_REMOTE_COMMAND_WEBSOCKETS="+websockets)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	lines := lineReader(stdout)
	// The stream may not be connected at the first write: send until an
	// answer comes.
	deadline := time.Now().Add(20 * time.Second)
	for i := 0; ; i++ {
		if _, err := fmt.Fprintf(stdin, "hello %s %d\n", websockets, i); err != nil {
			t.Fatalf("writing to kubectl attach (websockets %s): %v (stderr %q)", websockets, err, stderr.String())
		}
		if l, ok := tryLine(lines, time.Second); ok {
			if !regexp.MustCompile(`^got hello ` + websockets + ` \d+$`).MatchString(l) {
				t.Fatalf("kubectl attach (websockets %s): got %q, want \"got hello %s N\"", websockets, l, websockets)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("kubectl attach (websockets %s): no answer (stderr %q)", websockets, stderr.String())
		}
	}
}

// waitLogs waits until the container's log ends with suffix.
func waitLogs(t *testing.T, c *cluster, ns, pod, container, suffix string) {
	t.Helper()
	args := []string{"-n", ns, "logs", pod}
	if container != "" {
		args = append(args, "-c", container)
	}
	var out string
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 30*time.Second, true, func(context.Context) (bool, error) {
		out, _ = c.kubectl(t, args...)
		return strings.HasSuffix(out, suffix), nil
	})
	if err != nil {
		t.Fatalf("logs of %s/%s %s never ended with %q: %q", ns, pod, container, suffix, out)
	}
}

// lineReader sends r's lines on a channel, closed at EOF.
func lineReader(r io.Reader) <-chan string {
	ch := make(chan string, 100)
	go func() {
		defer close(ch)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			ch <- sc.Text()
		}
	}()
	return ch
}

func tryLine(lines <-chan string, timeout time.Duration) (string, bool) {
	select {
	case l, ok := <-lines:
		return l, ok
	case <-time.After(timeout):
		return "", false
	}
}

func nextLine(t *testing.T, lines <-chan string, timeout time.Duration) string {
	t.Helper()
	l, ok := tryLine(lines, timeout)
	if !ok {
		t.Fatalf("no line within %s", timeout)
	}
	return l
}
