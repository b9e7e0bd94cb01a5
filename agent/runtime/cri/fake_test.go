package cri

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// fakeCRI is an in-process CRI runtime and image service keeping just
// enough state for the runtime's calls, and recording the requests.
type fakeCRI struct {
	runtimeapi.UnimplementedRuntimeServiceServer
	runtimeapi.UnimplementedImageServiceServer

	mu         sync.Mutex
	next       int
	sandboxes  map[string]*fakeSandbox
	containers map[string]*fakeContainer
	images     map[string]*runtimeapi.Image // by the name asked for
	pullErr    map[string]error             // by image: pulls fail
	needAuth   map[string]string            // by image: the username a pull needs

	runSandbox    []*runtimeapi.RunPodSandboxRequest
	create        []*runtimeapi.CreateContainerRequest
	pulls         []*runtimeapi.PullImageRequest
	stops         []*runtimeapi.StopContainerRequest
	stopSandboxes []string
	reopened      []string
	listCalls     int
	startFails    bool
	networkReady  bool
}

type fakeSandbox struct {
	cfg     *runtimeapi.PodSandboxConfig
	state   runtimeapi.PodSandboxState
	created int64
	ip      string
}

type fakeContainer struct {
	cfg                        *runtimeapi.ContainerConfig
	sandbox                    string
	state                      runtimeapi.ContainerState
	created, started, finished int64
	exitCode                   int32
	reason                     string
	logPath                    string
}

// startFake serves a fake CRI on a unix socket in a temporary directory.
func startFake(t *testing.T) (*fakeCRI, string) {
	t.Helper()
	f := &fakeCRI{sandboxes: map[string]*fakeSandbox{}, containers: map[string]*fakeContainer{},
		images: map[string]*runtimeapi.Image{}, pullErr: map[string]error{}, needAuth: map[string]string{}, networkReady: true}
	sock := filepath.Join(t.TempDir(), "cri.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	runtimeapi.RegisterRuntimeServiceServer(srv, f)
	runtimeapi.RegisterImageServiceServer(srv, f)
	go srv.Serve(l)
	t.Cleanup(srv.Stop)
	return f, sock
}

func (f *fakeCRI) id(prefix string) string {
	f.next++
	return fmt.Sprintf("%s%04d", prefix, f.next)
}

func (f *fakeCRI) Version(context.Context, *runtimeapi.VersionRequest) (*runtimeapi.VersionResponse, error) {
	return &runtimeapi.VersionResponse{Version: "0.1.0", RuntimeName: "fake", RuntimeVersion: "1.0", RuntimeApiVersion: "v1"}, nil
}

func (f *fakeCRI) Status(context.Context, *runtimeapi.StatusRequest) (*runtimeapi.StatusResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &runtimeapi.StatusResponse{Status: &runtimeapi.RuntimeStatus{Conditions: []*runtimeapi.RuntimeCondition{
		{Type: runtimeapi.RuntimeReady, Status: true},
		{Type: runtimeapi.NetworkReady, Status: f.networkReady, Reason: "NetworkPluginNotReady"},
	}}}, nil
}

func (f *fakeCRI) RunPodSandbox(_ context.Context, req *runtimeapi.RunPodSandboxRequest) (*runtimeapi.RunPodSandboxResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.runSandbox = append(f.runSandbox, req)
	id := f.id("sb")
	f.sandboxes[id] = &fakeSandbox{cfg: req.Config, state: runtimeapi.PodSandboxState_SANDBOX_READY,
		created: time.Now().UnixNano(), ip: fmt.Sprintf("10.250.0.%d", f.next)}
	return &runtimeapi.RunPodSandboxResponse{PodSandboxId: id}, nil
}

func (f *fakeCRI) StopPodSandbox(_ context.Context, req *runtimeapi.StopPodSandboxRequest) (*runtimeapi.StopPodSandboxResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sandboxes[req.PodSandboxId]
	if !ok {
		return nil, status.Error(codes.NotFound, "no sandbox")
	}
	f.stopSandboxes = append(f.stopSandboxes, req.PodSandboxId)
	s.state = runtimeapi.PodSandboxState_SANDBOX_NOTREADY
	for _, c := range f.containers {
		if c.sandbox == req.PodSandboxId && c.state == runtimeapi.ContainerState_CONTAINER_RUNNING {
			c.state, c.exitCode, c.finished = runtimeapi.ContainerState_CONTAINER_EXITED, 137, time.Now().UnixNano()
		}
	}
	return &runtimeapi.StopPodSandboxResponse{}, nil
}

func (f *fakeCRI) RemovePodSandbox(_ context.Context, req *runtimeapi.RemovePodSandboxRequest) (*runtimeapi.RemovePodSandboxResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.sandboxes, req.PodSandboxId)
	return &runtimeapi.RemovePodSandboxResponse{}, nil
}

func (f *fakeCRI) PodSandboxStatus(_ context.Context, req *runtimeapi.PodSandboxStatusRequest) (*runtimeapi.PodSandboxStatusResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sandboxes[req.PodSandboxId]
	if !ok {
		return nil, status.Error(codes.NotFound, "no sandbox")
	}
	return &runtimeapi.PodSandboxStatusResponse{Status: &runtimeapi.PodSandboxStatus{Id: req.PodSandboxId,
		Metadata: s.cfg.Metadata, State: s.state, CreatedAt: s.created, Labels: s.cfg.Labels,
		Network: &runtimeapi.PodSandboxNetworkStatus{Ip: s.ip}}}, nil
}

func matches(labels, selector map[string]string) bool {
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

func (f *fakeCRI) ListPodSandbox(_ context.Context, req *runtimeapi.ListPodSandboxRequest) (*runtimeapi.ListPodSandboxResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	resp := &runtimeapi.ListPodSandboxResponse{}
	for id, s := range f.sandboxes {
		if matches(s.cfg.Labels, req.GetFilter().GetLabelSelector()) {
			resp.Items = append(resp.Items, &runtimeapi.PodSandbox{Id: id, Metadata: s.cfg.Metadata, State: s.state,
				CreatedAt: s.created, Labels: s.cfg.Labels, Annotations: s.cfg.Annotations})
		}
	}
	return resp, nil
}

func (f *fakeCRI) CreateContainer(_ context.Context, req *runtimeapi.CreateContainerRequest) (*runtimeapi.CreateContainerResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	s, ok := f.sandboxes[req.PodSandboxId]
	if !ok {
		return nil, status.Error(codes.NotFound, "no sandbox")
	}
	f.create = append(f.create, req)
	id := f.id("c")
	f.containers[id] = &fakeContainer{cfg: req.Config, sandbox: req.PodSandboxId, state: runtimeapi.ContainerState_CONTAINER_CREATED,
		created: time.Now().UnixNano(), logPath: filepath.Join(s.cfg.LogDirectory, req.Config.LogPath)}
	return &runtimeapi.CreateContainerResponse{ContainerId: id}, nil
}

func (f *fakeCRI) StartContainer(_ context.Context, req *runtimeapi.StartContainerRequest) (*runtimeapi.StartContainerResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[req.ContainerId]
	if !ok {
		return nil, status.Error(codes.NotFound, "no container")
	}
	if f.startFails {
		return nil, status.Error(codes.Unknown, "exec: \"nope\": executable file not found in $PATH")
	}
	c.state, c.started = runtimeapi.ContainerState_CONTAINER_RUNNING, time.Now().UnixNano()
	return &runtimeapi.StartContainerResponse{}, nil
}

func (f *fakeCRI) StopContainer(_ context.Context, req *runtimeapi.StopContainerRequest) (*runtimeapi.StopContainerResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[req.ContainerId]
	if !ok {
		return nil, status.Error(codes.NotFound, "no container")
	}
	f.stops = append(f.stops, req)
	if c.state != runtimeapi.ContainerState_CONTAINER_EXITED {
		c.state, c.exitCode, c.finished = runtimeapi.ContainerState_CONTAINER_EXITED, 143, time.Now().UnixNano()
	}
	return &runtimeapi.StopContainerResponse{}, nil
}

func (f *fakeCRI) RemoveContainer(_ context.Context, req *runtimeapi.RemoveContainerRequest) (*runtimeapi.RemoveContainerResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.containers, req.ContainerId)
	return &runtimeapi.RemoveContainerResponse{}, nil
}

func (f *fakeCRI) ListContainers(_ context.Context, req *runtimeapi.ListContainersRequest) (*runtimeapi.ListContainersResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.listCalls++
	resp := &runtimeapi.ListContainersResponse{}
	for id, c := range f.containers {
		if matches(c.cfg.Labels, req.GetFilter().GetLabelSelector()) {
			resp.Containers = append(resp.Containers, &runtimeapi.Container{Id: id, PodSandboxId: c.sandbox,
				Metadata: c.cfg.Metadata, Image: c.cfg.Image, State: c.state, CreatedAt: c.created, Labels: c.cfg.Labels})
		}
	}
	return resp, nil
}

func (f *fakeCRI) ContainerStatus(_ context.Context, req *runtimeapi.ContainerStatusRequest) (*runtimeapi.ContainerStatusResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[req.ContainerId]
	if !ok {
		return nil, status.Error(codes.NotFound, "no container")
	}
	return &runtimeapi.ContainerStatusResponse{Status: &runtimeapi.ContainerStatus{Id: req.ContainerId,
		Metadata: c.cfg.Metadata, State: c.state, CreatedAt: c.created, StartedAt: c.started, FinishedAt: c.finished,
		ExitCode: c.exitCode, Reason: c.reason, Image: c.cfg.Image, ImageRef: "sha256:" + c.cfg.Image.Image,
		Labels: c.cfg.Labels, Annotations: c.cfg.Annotations, LogPath: c.logPath}}, nil
}

// exit makes a container exit as if its process ended.
func (f *fakeCRI) exit(id string, code int32, reason string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c := f.containers[id]
	c.state, c.exitCode, c.reason, c.finished = runtimeapi.ContainerState_CONTAINER_EXITED, code, reason, time.Now().UnixNano()
}

func (f *fakeCRI) ExecSync(_ context.Context, req *runtimeapi.ExecSyncRequest) (*runtimeapi.ExecSyncResponse, error) {
	return &runtimeapi.ExecSyncResponse{Stdout: []byte(req.ContainerId + ":" + req.Cmd[0]), ExitCode: 3}, nil
}

func (f *fakeCRI) Exec(_ context.Context, req *runtimeapi.ExecRequest) (*runtimeapi.ExecResponse, error) {
	return &runtimeapi.ExecResponse{Url: "http://127.0.0.1:1/exec/" + req.ContainerId}, nil
}

func (f *fakeCRI) Attach(_ context.Context, req *runtimeapi.AttachRequest) (*runtimeapi.AttachResponse, error) {
	return &runtimeapi.AttachResponse{Url: "http://127.0.0.1:1/attach/" + req.ContainerId}, nil
}

func (f *fakeCRI) PortForward(_ context.Context, req *runtimeapi.PortForwardRequest) (*runtimeapi.PortForwardResponse, error) {
	return &runtimeapi.PortForwardResponse{Url: fmt.Sprintf("http://127.0.0.1:1/portforward/%s/%v", req.PodSandboxId, req.Port)}, nil
}

func (f *fakeCRI) ReopenContainerLog(_ context.Context, req *runtimeapi.ReopenContainerLogRequest) (*runtimeapi.ReopenContainerLogResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reopened = append(f.reopened, req.ContainerId)
	return &runtimeapi.ReopenContainerLogResponse{}, nil
}

func (f *fakeCRI) ImageStatus(_ context.Context, req *runtimeapi.ImageStatusRequest) (*runtimeapi.ImageStatusResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &runtimeapi.ImageStatusResponse{Image: f.images[req.Image.Image]}, nil
}

func (f *fakeCRI) PullImage(_ context.Context, req *runtimeapi.PullImageRequest) (*runtimeapi.PullImageResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.pulls = append(f.pulls, req)
	name := req.Image.Image
	if err := f.pullErr[name]; err != nil {
		return nil, err
	}
	if user := f.needAuth[name]; user != "" && req.GetAuth().GetUsername() != user {
		return nil, status.Error(codes.Unknown, "401 Unauthorized")
	}
	f.images[name] = &runtimeapi.Image{Id: "id-" + name, RepoTags: []string{name}}
	return &runtimeapi.PullImageResponse{ImageRef: "id-" + name}, nil
}
