package image

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// testContainerd starts a private containerd (own root, state, sockets
// and opt dir) for a test and returns its gRPC socket. It skips when not
// root or containerd is missing. The real supervisor is agent/containerd;
// this is only enough to import and list images.
func testContainerd(t *testing.T) string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("containerd needs root")
	}
	bin, err := exec.LookPath("/usr/bin/containerd")
	if err != nil {
		t.Skip("no /usr/bin/containerd")
	}
	if _, err := os.Stat(DefaultCtrPath); err != nil {
		t.Skip("no ctr")
	}
	// Short base path: unix socket paths are limited to 108 bytes.
	d, err := os.MkdirTemp("", "ctrd")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(d, "c.sock")
	cfg := fmt.Sprintf(`version = 2
root = %[1]q
state = %[2]q
[grpc]
  address = %[3]q
[ttrpc]
  address = %[4]q
[plugins."io.containerd.internal.v1.opt"]
  path = %[5]q
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = %[6]q
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = %[7]q
`, filepath.Join(d, "root"), filepath.Join(d, "state"), sock, sock+".ttrpc",
		filepath.Join(d, "opt"), PauseImage, filepath.Join(d, "cni"))
	cfgPath := filepath.Join(d, "config.toml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(d, "containerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_, _ = cmd.Process.Wait()
		logf.Close()
		if t.Failed() {
			b, _ := os.ReadFile(logf.Name())
			t.Logf("containerd log:\n%s", b)
		}
		// overlay mounts of unpacked snapshots are not kept: nothing ran.
		_ = os.RemoveAll(d)
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if c, err := net.Dial("unix", sock); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("containerd did not listen")
		}
		time.Sleep(50 * time.Millisecond)
	}
	return sock
}

func criImages(t *testing.T, sock string) runtimeapi.ImageServiceClient {
	t.Helper()
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return runtimeapi.NewImageServiceClient(conn)
}

func TestImportIntoContainerd(t *testing.T) {
	sock := testContainerd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	opts := ImportOptions{Address: sock}
	dir := t.TempDir()

	if err := EnsurePause(ctx, opts, dir); err != nil {
		t.Fatal(err)
	}
	// Second call finds it by name and digest and does not rewrite the file.
	st1, err := os.Stat(filepath.Join(dir, "pause.tar"))
	if err != nil {
		t.Fatal(err)
	}
	if err := EnsurePause(ctx, opts, dir); err != nil {
		t.Fatal(err)
	}
	st2, _ := os.Stat(filepath.Join(dir, "pause.tar"))
	if !st1.ModTime().Equal(st2.ModTime()) {
		t.Errorf("EnsurePause re-imported a present pause image")
	}

	auto := t.TempDir()
	busyboxRef := "corral.invalid/test/busybox:1"
	err = WriteImageFile(filepath.Join(auto, "busybox.tar"), func(w io.Writer) error { return BusyboxImage(w, busyboxRef) })
	if err == ErrNoBusybox {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	var di DirImporter
	di.Options = opts
	got, err := di.ImportDir(ctx, auto)
	if err != nil || len(got) != 1 {
		t.Fatalf("ImportDir: %v %v", got, err)
	}
	if got, err := di.ImportDir(ctx, auto); err != nil || len(got) != 0 {
		t.Fatalf("second ImportDir re-imported: %v %v", got, err)
	}

	imgs, err := List(ctx, opts)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, img := range imgs {
		names[img.Ref] = true
	}
	if !names[PauseImage] || !names[busyboxRef] {
		t.Fatalf("ctr images ls: %v", imgs)
	}

	// The CRI plugin sees both, unpacked, under their names.
	cri := criImages(t, sock)
	for _, ref := range []string{PauseImage, busyboxRef} {
		var st *runtimeapi.ImageStatusResponse
		deadline := time.Now().Add(30 * time.Second)
		for {
			st, err = cri.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: ref}})
			if err == nil && st.Image != nil {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("CRI ImageStatus %s: %v %v", ref, st, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if st.Image.GetSize() == 0 {
			t.Errorf("%s: size 0", ref)
		}
	}
}

// TestPauseRunsAsSandbox runs a host-network pod sandbox from the imported
// pause image through the CRI plugin and stops it: the pause program works
// as a real sandbox's init.
func TestPauseRunsAsSandbox(t *testing.T) {
	sock := testContainerd(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := EnsurePause(ctx, ImportOptions{Address: sock}, t.TempDir()); err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient("unix://"+sock, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	rt := runtimeapi.NewRuntimeServiceClient(conn)
	uid := fmt.Sprintf("pausetest%d", time.Now().UnixNano())
	cgroup := "/corral/pod" + uid
	defer func() {
		for _, h := range []string{"cpu", "cpuacct", "cpu,cpuacct", "memory", "pids", "blkio", "devices", "freezer", "cpuset", "hugetlb", "net_cls", "net_prio", "perf_event", "systemd"} {
			_ = os.Remove(filepath.Join("/sys/fs/cgroup", h, cgroup))
		}
	}()
	cfg := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: "pause", Uid: uid, Namespace: "test"},
		LogDirectory: t.TempDir(),
		Linux: &runtimeapi.LinuxPodSandboxConfig{
			CgroupParent: cgroup,
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{
				NamespaceOptions: &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_NODE},
			},
		},
	}
	run, err := rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: cfg})
	if err != nil {
		t.Fatalf("RunPodSandbox: %v", err)
	}
	id := run.PodSandboxId
	defer func() {
		_, _ = rt.RemovePodSandbox(context.Background(), &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id})
	}()
	st, err := rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id})
	if err != nil || st.Status.State != runtimeapi.PodSandboxState_SANDBOX_READY {
		t.Fatalf("sandbox status: %v %v", st, err)
	}
	if _, err := rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil {
		t.Fatalf("StopPodSandbox: %v", err)
	}
	st, err = rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: id})
	if err != nil || st.Status.State != runtimeapi.PodSandboxState_SANDBOX_NOTREADY {
		t.Fatalf("sandbox status after stop: %v %v", st, err)
	}
	if _, err := rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: id}); err != nil {
		t.Fatalf("RemovePodSandbox: %v", err)
	}
}
