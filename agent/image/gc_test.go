package image

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	testingclock "k8s.io/utils/clock/testing"
)

// fakeCRI is an image and runtime service over in-memory lists. The image
// filesystem's used bytes are base plus the sizes of the present images.
type fakeCRI struct {
	runtimeapi.ImageServiceClient
	runtimeapi.RuntimeServiceClient

	mu         sync.Mutex
	images     []*runtimeapi.Image
	containers []*runtimeapi.Container
	base, capa uint64
	removed    []string
}

func (f *fakeCRI) ListImages(context.Context, *runtimeapi.ListImagesRequest, ...grpc.CallOption) (*runtimeapi.ListImagesResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &runtimeapi.ListImagesResponse{Images: slices.Clone(f.images)}, nil
}

func (f *fakeCRI) ListContainers(context.Context, *runtimeapi.ListContainersRequest, ...grpc.CallOption) (*runtimeapi.ListContainersResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return &runtimeapi.ListContainersResponse{Containers: slices.Clone(f.containers)}, nil
}

func (f *fakeCRI) ImageFsInfo(context.Context, *runtimeapi.ImageFsInfoRequest, ...grpc.CallOption) (*runtimeapi.ImageFsInfoResponse, error) {
	return &runtimeapi.ImageFsInfoResponse{ImageFilesystems: []*runtimeapi.FilesystemUsage{{
		FsId: &runtimeapi.FilesystemIdentifier{Mountpoint: "/fake"}}}}, nil
}

func (f *fakeCRI) RemoveImage(_ context.Context, r *runtimeapi.RemoveImageRequest, _ ...grpc.CallOption) (*runtimeapi.RemoveImageResponse, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	i := slices.IndexFunc(f.images, func(img *runtimeapi.Image) bool { return img.Id == r.Image.Image })
	if i < 0 {
		return nil, fmt.Errorf("no image %s", r.Image.Image)
	}
	f.images = slices.Delete(f.images, i, i+1)
	f.removed = append(f.removed, r.Image.Image)
	return &runtimeapi.RemoveImageResponse{}, nil
}

func (f *fakeCRI) fsStats(mountpoint string) (uint64, uint64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if mountpoint != "/fake" {
		return 0, 0, fmt.Errorf("unexpected mountpoint %q", mountpoint)
	}
	used := f.base
	for _, img := range f.images {
		used += img.Size
	}
	return f.capa, f.capa - used, nil
}

func (f *fakeCRI) use(images ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.containers = nil
	for i, img := range images {
		f.containers = append(f.containers, &runtimeapi.Container{Id: fmt.Sprint("c", i),
			Image: &runtimeapi.ImageSpec{Image: img}, ImageRef: img, State: runtimeapi.ContainerState_CONTAINER_EXITED})
	}
}

func img(id string, size uint64, tags ...string) *runtimeapi.Image {
	return &runtimeapi.Image{Id: id, Size: size, RepoTags: tags}
}

func TestGCRemovesLeastRecentlyUsedFirst(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	clk := testingclock.NewFakeClock(start)
	f := &fakeCRI{capa: 1000, base: 0}
	f.images = []*runtimeapi.Image{
		img("sha256:pause", 50, PauseImage),
		img("sha256:a", 100, "docker.io/library/a:1"),
		img("sha256:b", 100, "docker.io/library/b:1"),
		img("sha256:c", 100, "docker.io/library/c:1"),
		img("sha256:d", 100, "docker.io/library/d:1"),
		{Id: "sha256:e", Size: 100, RepoTags: []string{"docker.io/library/e:1"}, Pinned: true},
	}
	g := &GC{Images: f, Runtime: f, Clock: clk, FsStats: f.fsStats, Pinned: []string{"d:1"}}
	run := func() Result {
		t.Helper()
		res, err := g.Run(context.Background())
		if err != nil {
			t.Fatalf("GC: %v", err)
		}
		return res
	}

	// t0: b in use; usage 55%: nothing to do.
	f.use("docker.io/library/b:1")
	if res := run(); len(res.Removed) != 0 || res.UsagePercent != 55 {
		t.Fatalf("below threshold: %+v", res)
	}
	// t0+5m: c in use, b no longer. a used by its image ID.
	clk.Step(5 * time.Minute)
	f.use("docker.io/library/c:1")
	run()
	// t0+10m: only a in use; f arrives; usage 90% (base 250 + 650).
	clk.Step(5 * time.Minute)
	f.use("sha256:a")
	f.mu.Lock()
	f.images = append(f.images, img("sha256:f", 100, "docker.io/library/f:1"))
	f.base = 250
	f.mu.Unlock()
	res := run()
	if res.UsagePercent != 90 || !slices.Equal(res.Removed, []string{"sha256:b"}) || res.Freed != 100 {
		t.Fatalf("want b (least recently used) removed down to 80%%: %+v", res)
	}
	// Usage 95% needs 150 bytes: c is the only candidate left (a in use,
	// d and e pinned, pause never, f younger than MinAge).
	clk.Step(time.Minute)
	f.mu.Lock()
	f.base = 400
	f.mu.Unlock()
	res, err := g.Run(context.Background())
	if err == nil || !slices.Equal(res.Removed, []string{"sha256:c"}) {
		t.Fatalf("want c removed and an error for the shortfall: %+v, %v", res, err)
	}
	// Once f is old enough it goes too.
	clk.Step(2 * time.Minute)
	res, err = g.Run(context.Background())
	if !slices.Equal(res.Removed, []string{"sha256:f"}) {
		t.Fatalf("want f removed after MinAge: %+v, %v", res, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, img := range f.images {
		if img.Id == "sha256:b" || img.Id == "sha256:c" || img.Id == "sha256:f" {
			t.Errorf("%s still present", img.Id)
		}
	}
	if len(f.images) != 4 {
		t.Errorf("left: %v", f.images)
	}
}

func TestGCRejectsBadThresholds(t *testing.T) {
	f := &fakeCRI{capa: 1000}
	g := &GC{Images: f, Runtime: f, FsStats: f.fsStats, HighThresholdPercent: 70, LowThresholdPercent: 90}
	if _, err := g.Run(context.Background()); err == nil {
		t.Fatal("want an error for low > high")
	}
}
