package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"corral/test/hostclean"
)

// The floor's pods carry this label and no io.kubernetes.pod.uid: the
// agent finds its pods by that label only (agent/runtime/cri), so it
// neither adopts nor removes these, though they share its containerd, its
// CNI config (bridge, host-local IPAM) and its images.
const (
	floorLabel     = "corral.dev/bench-floor"
	floorNamespace = "corral-bench-floor"
	floorCgroup    = "corral-bench-floor" // pods get /corral-bench-floor/pod<uid>, as corral's /corral/pod<uid>
)

func dialCRI(socket string) (runtimeapi.RuntimeServiceClient, runtimeapi.ImageServiceClient, func(), error) {
	conn, err := grpc.NewClient("unix://"+socket, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return nil, nil, nil, err
	}
	return runtimeapi.NewRuntimeServiceClient(conn), runtimeapi.NewImageServiceClient(conn), func() { conn.Close() }, nil
}

// floorPod is one pod started by raw CRI calls.
type floorPod struct {
	uid, sandboxID            string
	t0, ran, created, started time.Time // before RunPodSandbox, after it, after CreateContainer, after StartContainer
	sandboxAt                 time.Time // containerd's sandbox CreatedAt
}

func (p *floorPod) latency() time.Duration { return p.started.Sub(p.t0) }

// criFloor starts pods the way corral's CRI runtime does (same sandbox
// and container config for this pod spec), without corral.
type criFloor struct {
	rt      runtimeapi.RuntimeServiceClient
	imageID string
	logDir  string
}

func newCRIFloor(ctx context.Context, rt runtimeapi.RuntimeServiceClient, img runtimeapi.ImageServiceClient, logDir string) (*criFloor, error) {
	st, err := img.ImageStatus(ctx, &runtimeapi.ImageStatusRequest{Image: &runtimeapi.ImageSpec{Image: psImage}})
	if err != nil {
		return nil, err
	}
	if st.Image == nil {
		return nil, fmt.Errorf("image %s is not in the node's containerd", psImage)
	}
	return &criFloor{rt: rt, imageID: st.Image.Id, logDir: logDir}, nil
}

// namespaces as corral gives a pod without host namespaces.
var floorNS = &runtimeapi.NamespaceOption{Network: runtimeapi.NamespaceMode_POD, Pid: runtimeapi.NamespaceMode_CONTAINER, Ipc: runtimeapi.NamespaceMode_POD}

// start runs one pod: RunPodSandbox, CreateContainer, StartContainer.
func (f *criFloor) start(ctx context.Context, name string) (*floorPod, error) {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	p := &floorPod{uid: hex.EncodeToString(b)}
	labels := map[string]string{floorLabel: "true"}
	sbCfg := &runtimeapi.PodSandboxConfig{
		Metadata:     &runtimeapi.PodSandboxMetadata{Name: name, Namespace: floorNamespace, Uid: p.uid},
		Hostname:     name,
		LogDirectory: filepath.Join(f.logDir, p.uid),
		Labels:       labels,
		Annotations:  map[string]string{},
		Linux: &runtimeapi.LinuxPodSandboxConfig{CgroupParent: "/" + floorCgroup + "/pod" + p.uid,
			SecurityContext: &runtimeapi.LinuxSandboxSecurityContext{NamespaceOptions: floorNS}},
	}
	p.t0 = time.Now()
	if err := os.MkdirAll(sbCfg.LogDirectory, 0o755); err != nil {
		return nil, err
	}
	sb, err := f.rt.RunPodSandbox(ctx, &runtimeapi.RunPodSandboxRequest{Config: sbCfg})
	if err != nil {
		return nil, fmt.Errorf("RunPodSandbox: %w", err)
	}
	p.ran, p.sandboxID = time.Now(), sb.PodSandboxId
	cCfg := &runtimeapi.ContainerConfig{
		Metadata: &runtimeapi.ContainerMetadata{Name: "app"},
		Image:    &runtimeapi.ImageSpec{Image: f.imageID, UserSpecifiedImage: psImage},
		Command:  []string{"sleep", "3600"},
		LogPath:  filepath.Join("app", "0.log"),
		Labels:   labels,
		Linux: &runtimeapi.LinuxContainerConfig{
			Resources:       &runtimeapi.LinuxContainerResources{CpuShares: 2, OomScoreAdj: 1000}, // BestEffort, as corral
			SecurityContext: &runtimeapi.LinuxContainerSecurityContext{NamespaceOptions: floorNS}},
	}
	c, err := f.rt.CreateContainer(ctx, &runtimeapi.CreateContainerRequest{PodSandboxId: sb.PodSandboxId, Config: cCfg, SandboxConfig: sbCfg})
	if err != nil {
		return nil, fmt.Errorf("CreateContainer: %w", err)
	}
	p.created = time.Now()
	if _, err := f.rt.StartContainer(ctx, &runtimeapi.StartContainerRequest{ContainerId: c.ContainerId}); err != nil {
		return nil, fmt.Errorf("StartContainer: %w", err)
	}
	p.started = time.Now()
	return p, nil
}

// run starts names at once (one goroutine each, released together).
func (f *criFloor) run(ctx context.Context, names []string) ([]*floorPod, error) {
	out := make([]*floorPod, len(names))
	errs := make([]error, len(names))
	gate := make(chan struct{})
	var wg sync.WaitGroup
	for i, n := range names {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			out[i], errs[i] = f.start(ctx, n)
		}()
	}
	close(gate)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	for _, p := range out {
		st, err := f.rt.PodSandboxStatus(ctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: p.sandboxID})
		if err != nil {
			return nil, err
		}
		p.sandboxAt = time.Unix(0, st.Status.CreatedAt)
	}
	return out, nil
}

// teardown stops and removes the floor's sandboxes (with their
// containers; any left from a failed start too, found by label) and their
// pod cgroups, which containerd leaves.
func (f *criFloor) teardown(ctx context.Context) error {
	resp, err := f.rt.ListPodSandbox(ctx, &runtimeapi.ListPodSandboxRequest{Filter: &runtimeapi.PodSandboxFilter{
		LabelSelector: map[string]string{floorLabel: "true"}}})
	if err != nil {
		return err
	}
	var firstErr error
	var cgroups []string
	for _, sb := range resp.Items {
		if _, err := f.rt.StopPodSandbox(ctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: sb.Id}); err != nil && firstErr == nil {
			firstErr = err
		}
		if _, err := f.rt.RemovePodSandbox(ctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: sb.Id}); err != nil && firstErr == nil {
			firstErr = err
		}
		cgroups = append(cgroups, filepath.Join(floorCgroup, "pod"+sb.GetMetadata().GetUid()))
	}
	if left := hostclean.RemoveCgroups(cgroups); len(left) > 0 && firstErr == nil {
		firstErr = fmt.Errorf("floor cgroups left: %v", left)
	}
	return firstErr
}
