package cri

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/ptr"

	"corral/agent/runtime"
)

func TestStartContainerConfig(t *testing.T) {
	f, sock := startFake(t)
	r := newTestRuntime(t, sock, nil)
	pod := testPod()
	c := &pod.Spec.Containers[0]
	f.images[c.Image] = &runtimeapi.Image{Id: "sha256:abc", Uid: &runtimeapi.Int64Value{Value: 0}}
	ctx := context.Background()
	if err := r.RunPodSandbox(ctx, pod); err != nil {
		t.Fatal(err)
	}
	cfg := runtime.ContainerConfig{
		Env:    []corev1.EnvVar{{Name: "POD_NAME", Value: "web"}, {Name: "MODE", Value: "prod"}},
		Mounts: []runtime.Mount{{HostPath: "/var/lib/corral/pods/uid-1/volumes/data", ContainerPath: "/data", ReadOnly: true}},
	}
	if err := r.StartContainer(ctx, pod, c, 2, cfg); err != nil {
		t.Fatal(err)
	}
	if len(f.pulls) != 0 {
		t.Errorf("IfNotPresent pulled a present image")
	}
	if len(f.create) != 1 {
		t.Fatalf("%d creates", len(f.create))
	}
	req := f.create[0]
	cc := req.Config
	if req.SandboxConfig.GetMetadata().GetUid() != "uid-1" {
		t.Errorf("sandbox config %v", req.SandboxConfig.GetMetadata())
	}
	if cc.Metadata.Name != "app" || cc.Metadata.Attempt != 2 {
		t.Errorf("metadata %v", cc.Metadata)
	}
	if cc.Image.Image != "sha256:abc" || cc.Image.UserSpecifiedImage != c.Image {
		t.Errorf("image %v", cc.Image)
	}
	if !reflect.DeepEqual(cc.Command, []string{"/bin/web"}) || !reflect.DeepEqual(cc.Args, []string{"--name=web", "$(POD_NAME)", "$(MISSING)"}) {
		t.Errorf("command %q args %q", cc.Command, cc.Args)
	}
	if cc.WorkingDir != "/srv" || cc.LogPath != "app/2.log" {
		t.Errorf("working dir %q, log path %q", cc.WorkingDir, cc.LogPath)
	}
	if len(cc.Envs) != 2 || cc.Envs[0].Key != "POD_NAME" || string(cc.Envs[0].Value) != "web" || cc.Envs[1].Key != "MODE" {
		t.Errorf("env %v", cc.Envs)
	}
	if len(cc.Mounts) != 2 {
		t.Fatalf("mounts %v", cc.Mounts)
	}
	if m := cc.Mounts[0]; m.ContainerPath != "/data" || m.HostPath != cfg.Mounts[0].HostPath || !m.Readonly {
		t.Errorf("volume mount %v", m)
	}
	if m := cc.Mounts[1]; m.ContainerPath != "/dev/termination-log" || m.Readonly {
		t.Errorf("termination log mount %v", m)
	} else if fi, err := os.Stat(m.HostPath); err != nil || fi.Mode().Perm() != 0o666 {
		t.Errorf("termination log file: %v %v", fi, err)
	}
	wantLabels := map[string]string{LabelContainerName: "app", LabelPodName: "web", LabelPodNamespace: "shop", LabelPodUID: "uid-1"}
	if !reflect.DeepEqual(cc.Labels, wantLabels) {
		t.Errorf("labels %v", cc.Labels)
	}
	if a := cc.Annotations; a[AnnotationRestartCount] != "2" || a[AnnotationImage] != c.Image || a[AnnotationTerminationPath] != "/dev/termination-log" || a[AnnotationGracePeriod] != "30" {
		t.Errorf("annotations %v", a)
	}
	res := cc.Linux.Resources
	if res.CpuShares != 256 || res.CpuPeriod != 100000 || res.CpuQuota != 50000 || res.MemoryLimitInBytes != 128<<20 {
		t.Errorf("resources %v", res)
	}
	if res.OomScoreAdj < 3 || res.OomScoreAdj > 999 {
		t.Errorf("burstable oom_score_adj %d", res.OomScoreAdj)
	}
	sc := cc.Linux.SecurityContext
	if sc.RunAsUser.GetValue() != 1000 || sc.RunAsGroup.GetValue() != 2000 || !sc.ReadonlyRootfs || !sc.NoNewPrivs || sc.Privileged {
		t.Errorf("security context %v", sc)
	}
	if !reflect.DeepEqual(sc.Capabilities.AddCapabilities, []string{"NET_ADMIN"}) || !reflect.DeepEqual(sc.Capabilities.DropCapabilities, []string{"ALL"}) {
		t.Errorf("capabilities %v", sc.Capabilities)
	}
	if !reflect.DeepEqual(sc.SupplementalGroups, []int64{5}) || len(sc.MaskedPaths) == 0 || len(sc.ReadonlyPaths) == 0 {
		t.Errorf("groups %v masked %v readonly %v", sc.SupplementalGroups, sc.MaskedPaths, sc.ReadonlyPaths)
	}
}

func TestResourcesAndQoS(t *testing.T) {
	r := &Runtime{memory: 1 << 30}
	rl := func(cpu, mem string) corev1.ResourceList {
		l := corev1.ResourceList{}
		if cpu != "" {
			l[corev1.ResourceCPU] = resource.MustParse(cpu)
		}
		if mem != "" {
			l[corev1.ResourceMemory] = resource.MustParse(mem)
		}
		return l
	}
	for _, tc := range []struct {
		name          string
		req, lim      corev1.ResourceList
		shares, quota int64
		oom           int64
	}{
		{"best effort", nil, nil, 2, 0, 1000},
		{"guaranteed", rl("1", "256Mi"), rl("1", "256Mi"), 1024, 100000, -997},
		{"limit only", nil, rl("100m", ""), 102, 10000, 999},
		{"tiny", rl("1m", "512Mi"), nil, 2, 0, 500},
		{"huge request", rl("", "2Gi"), nil, 2, 0, 3},
	} {
		pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c",
			Resources: corev1.ResourceRequirements{Requests: tc.req, Limits: tc.lim}}}}}
		res := r.resources(pod, &pod.Spec.Containers[0])
		if res.CpuShares != tc.shares || res.CpuQuota != tc.quota || res.OomScoreAdj != tc.oom {
			t.Errorf("%s: shares %d quota %d oom %d, want %d %d %d", tc.name, res.CpuShares, res.CpuQuota, res.OomScoreAdj, tc.shares, tc.quota, tc.oom)
		}
	}
}

func startErrReason(err error) string {
	var se *runtime.StartError
	if errors.As(err, &se) {
		return se.Reason
	}
	return ""
}

func TestImagePulls(t *testing.T) {
	f, sock := startFake(t)
	r := newTestRuntime(t, sock, nil)
	ctx := context.Background()
	pod := testPod()
	pod.Spec.SecurityContext = nil
	pod.Spec.Containers[0].SecurityContext = nil
	if err := r.RunPodSandbox(ctx, pod); err != nil {
		t.Fatal(err)
	}
	c := pod.Spec.Containers[0]
	auths := []runtime.RegistryAuth{
		{Server: "https://index.docker.io/v1/", Username: "hub", Password: "p1"},
		{Server: "registry.example:5000", Auth: "c2hvcDpzZWNyZXQ="}, // shop:secret
	}

	// Never, missing: ErrImageNeverPull, nothing pulled.
	c.ImagePullPolicy = corev1.PullNever
	err := r.StartContainer(ctx, pod, &c, 0, runtime.ContainerConfig{})
	if startErrReason(err) != runtime.ReasonErrImageNeverPull || len(f.pulls) != 0 {
		t.Fatalf("Never: %v (reason %q), %d pulls", err, startErrReason(err), len(f.pulls))
	}
	// IfNotPresent, missing, private registry: pulled with its credential.
	f.needAuth[c.Image] = "shop"
	c.ImagePullPolicy = corev1.PullIfNotPresent
	if err := r.StartContainer(ctx, pod, &c, 0, runtime.ContainerConfig{PullAuth: auths}); err != nil {
		t.Fatal(err)
	}
	if len(f.pulls) != 1 || f.pulls[0].Auth.GetUsername() != "shop" || f.pulls[0].Auth.GetPassword() != "secret" ||
		f.pulls[0].Auth.GetServerAddress() != "" {
		t.Fatalf("pulls %v", f.pulls)
	}
	if f.create[0].Config.Image.Image != "id-"+c.Image {
		t.Errorf("created from %q, want the pulled image's ID", f.create[0].Config.Image.Image)
	}
	// Always: pulled again even though present.
	c.ImagePullPolicy = corev1.PullAlways
	if err := r.StartContainer(ctx, pod, &c, 1, runtime.ContainerConfig{PullAuth: auths}); err != nil {
		t.Fatal(err)
	}
	if len(f.pulls) != 2 {
		t.Errorf("Always did not pull: %d pulls", len(f.pulls))
	}
	// A Docker Hub image gets the Hub credential; a failing pull is ErrImagePull.
	c.Image, c.ImagePullPolicy = "busybox", ""
	f.pullErr["busybox"] = status.Error(codes.NotFound, "busybox: not found")
	err = r.StartContainer(ctx, pod, &c, 0, runtime.ContainerConfig{PullAuth: auths})
	if startErrReason(err) != runtime.ReasonErrImagePull || !strings.Contains(err.Error(), "not found") {
		t.Errorf("failed pull: %v", err)
	}
	if last := f.pulls[len(f.pulls)-1]; last.Auth.GetUsername() != "hub" {
		t.Errorf("Docker Hub pull used %v", last.Auth)
	}
	c.Image = "Bad/Name"
	if err := r.StartContainer(ctx, pod, &c, 0, runtime.ContainerConfig{}); startErrReason(err) != runtime.ReasonInvalidImageName {
		t.Errorf("invalid name: %v", err)
	}
}

func TestStartFailureRemovesContainer(t *testing.T) {
	f, sock := startFake(t)
	r := newTestRuntime(t, sock, nil)
	ctx := context.Background()
	pod := testPod()
	c := &pod.Spec.Containers[0]
	f.images[c.Image] = &runtimeapi.Image{Id: "sha256:abc", Uid: &runtimeapi.Int64Value{Value: 0}}
	if err := r.RunPodSandbox(ctx, pod); err != nil {
		t.Fatal(err)
	}
	f.startFails = true
	err := r.StartContainer(ctx, pod, c, 0, runtime.ContainerConfig{})
	if startErrReason(err) != runtime.ReasonRunContainerError {
		t.Fatalf("start failure: %v", err)
	}
	if st, _ := r.PodStatus(ctx, pod.UID); len(st.Containers) != 0 {
		t.Errorf("a container that failed to start is still listed: %v", st.Containers)
	}
	// runAsNonRoot against an image running as root: a config error.
	f.startFails = false
	pod.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true)}
	c.SecurityContext = nil
	if err := r.StartContainer(ctx, pod, c, 0, runtime.ContainerConfig{}); startErrReason(err) != runtime.ReasonCreateConfigError {
		t.Errorf("runAsNonRoot with a root image: %v", err)
	}
}

func TestHelpers(t *testing.T) {
	env := map[string]string{"A": "1", "B": "two"}
	for in, want := range map[string]string{
		"$(A)-$(B)": "1-two", "$$(A)": "$(A)", "$(C)": "$(C)", "$(A": "$(A", "x$": "x$", "$A": "$A", "plain": "plain",
	} {
		if got := expand(in, env); got != want {
			t.Errorf("expand(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{
		"busybox": "docker.io", "library/busybox:1": "docker.io", "ghcr.io/a/b": "ghcr.io",
		"localhost/x": "localhost", "127.0.0.1:5000/x:1": "127.0.0.1:5000",
	} {
		if got := registryHost(in); got != want {
			t.Errorf("registryHost(%q) = %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]corev1.PullPolicy{
		"busybox": corev1.PullAlways, "busybox:latest": corev1.PullAlways, "busybox:1.36": corev1.PullIfNotPresent,
		"reg:5000/busybox": corev1.PullAlways, "busybox@sha256:00": corev1.PullIfNotPresent,
	} {
		if got := defaultPullPolicy(in); got != want {
			t.Errorf("defaultPullPolicy(%q) = %s, want %s", in, got, want)
		}
	}
	for in, ok := range map[string]bool{"busybox": true, "Reg.Example:5000/a/b:TAG": true, "": false, "a b": false, "Busybox": false} {
		if err := validImageName(in); (err == nil) != ok {
			t.Errorf("validImageName(%q) = %v", in, err)
		}
	}
	log := filepath.Join(t.TempDir(), "0.log")
	os.WriteFile(log, []byte("2026-01-01T00:00:00Z stdout F first\n2026-01-01T00:00:01Z stderr P par\n2026-01-01T00:00:02Z stderr F tial\n"), 0o644)
	if got := logTail(log); got != "first\npartial\n" {
		t.Errorf("logTail = %q", got)
	}
}
