package containerd

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

func TestRenderConfig(t *testing.T) {
	p := PathsFor("/data")
	cfg := renderConfig(configParams{Paths: p, SandboxImage: "corral.invalid/pause:1", CNIBinDir: "/usr/lib/cni",
		CNIConfDir: "/data/cni/net.d", RuncBinary: "/usr/sbin/runc", StreamAddress: "127.0.0.1", Snapshotter: "overlayfs"})
	for _, want := range []string{
		"version = 2\n",
		`root = "/data/containerd/root"`,
		`state = "/data/containerd/state"`,
		"[grpc]\n  address = \"/data/containerd/containerd.sock\"",
		"[ttrpc]\n  address = \"/data/containerd/containerd.sock.ttrpc\"",
		"[plugins.\"io.containerd.internal.v1.opt\"]\n  path = \"/data/containerd/opt\"",
		`sandbox_image = "corral.invalid/pause:1"`,
		"restrict_oom_score_adj = true",
		"netns_mounts_under_state_dir = true",
		`stream_server_address = "127.0.0.1"`,
		`stream_server_port = "0"`,
		`snapshotter = "overlayfs"`,
		`runtime_type = "io.containerd.runc.v2"`,
		`BinaryName = "/usr/sbin/runc"`,
		"SystemdCgroup = false",
		`Root = "/data/containerd/state/runc"`,
		`bin_dir = "/usr/lib/cni"`,
		`conf_dir = "/data/cni/net.d"`,
		"max_conf_num = 1",
	} {
		if !strings.Contains(cfg, want) {
			t.Errorf("config lacks %q:\n%s", want, cfg)
		}
	}
}

func TestStartRequiresFields(t *testing.T) {
	if _, err := (&Supervisor{SandboxImage: "x"}).Start(context.Background()); err == nil {
		t.Error("Start without DataDir succeeded")
	}
	if _, err := (&Supervisor{DataDir: t.TempDir()}).Start(context.Background()); err == nil {
		t.Error("Start without SandboxImage succeeded")
	}
}

// TestSupervisorRealContainerd starts a real containerd, kills it to see it
// restarted, and stops it with the context.
func TestSupervisorRealContainerd(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if _, err := os.Stat("/usr/bin/containerd"); err != nil {
		t.Skip("no /usr/bin/containerd")
	}
	dir, err := os.MkdirTemp("", "ctrd-sup-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := &Supervisor{DataDir: dir, SandboxImage: "corral.invalid/pause:1", BackoffInitial: 100 * time.Millisecond}
	endpoint, err := s.Start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(endpoint, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := runtimeapi.NewRuntimeServiceClient(conn)
	version := func() error {
		cctx, c := context.WithTimeout(ctx, 5*time.Second)
		defer c()
		v, err := client.Version(cctx, &runtimeapi.VersionRequest{})
		if err == nil && v.RuntimeName != "containerd" {
			t.Errorf("runtime name %q", v.RuntimeName)
		}
		return err
	}
	if err := version(); err != nil {
		t.Fatal(err)
	}

	s.mu.Lock()
	first := s.proc.cmd.Process.Pid
	s.mu.Unlock()
	if err := syscall.Kill(first, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		s.mu.Lock()
		pid := s.proc.cmd.Process.Pid
		s.mu.Unlock()
		if pid != first && version() == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("containerd was not restarted")
		}
		time.Sleep(100 * time.Millisecond)
	}

	cancel()
	select {
	case <-s.Done():
	case <-time.After(time.Minute):
		t.Fatal("supervisor did not stop")
	}
	s.mu.Lock()
	p := s.proc
	s.mu.Unlock()
	select {
	case <-p.exited:
	default:
		t.Fatal("containerd still running after Done")
	}
}

// TestStartRetriesWhenContainerdDies: a containerd that dies while
// starting (here: the first two runs exit at once) is started again.
func TestStartRetriesWhenContainerdDies(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	if _, err := os.Stat("/usr/bin/containerd"); err != nil {
		t.Skip("no /usr/bin/containerd")
	}
	dir, err := os.MkdirTemp("", "ctrd-retry-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	wrapper := dir + "/containerd-flaky"
	script := "#!/bin/sh\necho run >> " + dir + "/runs\n[ $(wc -l < " + dir + "/runs) -le 2 ] && exit 1\nexec /usr/bin/containerd \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Supervisor{DataDir: dir, Binary: wrapper, SandboxImage: "corral.invalid/pause:1", BackoffInitial: 50 * time.Millisecond}
	if _, err := s.Start(ctx); err != nil {
		cancel()
		t.Fatalf("Start after two failed runs: %v", err)
	}
	cancel()
	<-s.Done()
	b, _ := os.ReadFile(dir + "/runs")
	if n := strings.Count(string(b), "run"); n != 3 {
		t.Fatalf("containerd was run %d times, want 3", n)
	}
}
