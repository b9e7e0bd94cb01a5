package image

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"

	"golang.org/x/sys/unix"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/utils/clock"
)

// GC defaults, as the kubelet's.
const (
	DefaultHighThresholdPercent = 85
	DefaultLowThresholdPercent  = 80
	DefaultMinAge               = 2 * time.Minute
)

// GC removes unused images, least recently used first, when the image
// filesystem is fuller than HighThresholdPercent, until it is down to
// LowThresholdPercent. It never removes PauseImage, Pinned images, images
// the runtime reports pinned, images any container (in any state) uses, or
// images it first saw less than MinAge ago (so an image imported for a pod
// that has not started yet survives).
//
// "Last used" is the last Run that saw a container using the image; an
// image never seen in use counts as last used when Run first saw it.
type GC struct {
	Images  runtimeapi.ImageServiceClient
	Runtime runtimeapi.RuntimeServiceClient

	HighThresholdPercent int              // default 85
	LowThresholdPercent  int              // default 80
	MinAge               time.Duration    // default 2m; negative means none
	Pinned               []string         // extra references never removed
	Clock                clock.WithTicker // default real clock
	// FsStats reports capacity and available bytes of the filesystem at
	// mountpoint (the one ImageFsInfo names); default statfs.
	FsStats func(mountpoint string) (capacity, available uint64, err error)

	mu    sync.Mutex
	state map[string]*imageRecord // by image ID
}

type imageRecord struct {
	firstSeen, lastUsed time.Time
}

// Result says what one GC pass did.
type Result struct {
	UsagePercent int      // image filesystem usage before the pass
	Removed      []string // image IDs removed
	Freed        uint64   // bytes the removed images occupied
}

func (g *GC) clock() clock.WithTicker {
	if g.Clock == nil {
		return clock.RealClock{}
	}
	return g.Clock
}

// FsInfo is the size and free space of a file system.
type FsInfo struct {
	// AvailableBytes is what unprivileged writers may still use (f_bavail),
	// as df, cAdvisor and kubelet's eviction signals count it.
	CapacityBytes, AvailableBytes uint64
	Inodes, InodesFree            uint64
}

// Statfs reports the file system holding path; image GC and the agent's
// disk pressure signals share it.
func Statfs(path string) (FsInfo, error) {
	var st unix.Statfs_t
	if err := unix.Statfs(path, &st); err != nil {
		return FsInfo{}, fmt.Errorf("statfs %s: %w", path, err)
	}
	bs := uint64(st.Bsize)
	return FsInfo{CapacityBytes: st.Blocks * bs, AvailableBytes: st.Bavail * bs, Inodes: st.Files, InodesFree: st.Ffree}, nil
}

func statfs(mountpoint string) (uint64, uint64, error) {
	fs, err := Statfs(mountpoint)
	return fs.CapacityBytes, fs.AvailableBytes, err
}

// Run makes one pass: it refreshes what is in use, and removes images when
// the image filesystem is above the high threshold.
func (g *GC) Run(ctx context.Context) (Result, error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	high, low := g.HighThresholdPercent, g.LowThresholdPercent
	if high == 0 {
		high = DefaultHighThresholdPercent
	}
	if low == 0 {
		low = DefaultLowThresholdPercent
	}
	if low > high || high > 100 || low < 0 {
		return Result{}, fmt.Errorf("image GC: thresholds low %d%% high %d%% are invalid", low, high)
	}
	minAge := g.MinAge
	if minAge == 0 {
		minAge = DefaultMinAge
	}
	now := g.clock().Now()

	imgs, err := g.Images.ListImages(ctx, &runtimeapi.ListImagesRequest{})
	if err != nil {
		return Result{}, fmt.Errorf("image GC: list images: %w", err)
	}
	ctrs, err := g.Runtime.ListContainers(ctx, &runtimeapi.ListContainersRequest{})
	if err != nil {
		return Result{}, fmt.Errorf("image GC: list containers: %w", err)
	}
	used := map[string]bool{}
	for _, c := range ctrs.Containers {
		used[c.ImageRef] = true
		if c.Image != nil {
			used[c.Image.Image] = true
		}
	}
	keep := map[string]bool{PauseImage: true}
	for _, p := range g.Pinned {
		keep[p] = true
		if n, err := NormalizeRef(p); err == nil {
			keep[n] = true
		}
	}

	if g.state == nil {
		g.state = map[string]*imageRecord{}
	}
	present := map[string]bool{}
	type candidate struct {
		img *runtimeapi.Image
		rec *imageRecord
	}
	var candidates []candidate
	for _, img := range imgs.Images {
		present[img.Id] = true
		rec := g.state[img.Id]
		if rec == nil {
			rec = &imageRecord{firstSeen: now, lastUsed: now}
			g.state[img.Id] = rec
		}
		names := append(append([]string{img.Id}, img.RepoTags...), img.RepoDigests...)
		inUse, kept := false, img.Pinned
		for _, n := range names {
			inUse = inUse || used[n]
			kept = kept || keep[n]
		}
		if inUse {
			rec.lastUsed = now
		}
		if inUse || kept || (minAge > 0 && now.Sub(rec.firstSeen) < minAge) {
			continue
		}
		candidates = append(candidates, candidate{img, rec})
	}
	for id := range g.state {
		if !present[id] {
			delete(g.state, id)
		}
	}

	res := Result{}
	fsInfo, err := g.Images.ImageFsInfo(ctx, &runtimeapi.ImageFsInfoRequest{})
	if err != nil {
		return res, fmt.Errorf("image GC: image fs info: %w", err)
	}
	if len(fsInfo.ImageFilesystems) == 0 || fsInfo.ImageFilesystems[0].FsId == nil {
		return res, errors.New("image GC: runtime reports no image filesystem")
	}
	stats := g.FsStats
	if stats == nil {
		stats = statfs
	}
	capacity, avail, err := stats(fsInfo.ImageFilesystems[0].FsId.Mountpoint)
	if err != nil {
		return res, fmt.Errorf("image GC: %w", err)
	}
	if capacity == 0 || avail > capacity {
		return res, fmt.Errorf("image GC: bad filesystem stats: capacity %d, available %d", capacity, avail)
	}
	usedBytes := capacity - avail
	res.UsagePercent = int(usedBytes * 100 / capacity)
	if res.UsagePercent < high {
		return res, nil
	}
	toFree := usedBytes - capacity*uint64(low)/100

	sort.SliceStable(candidates, func(i, j int) bool {
		a, b := candidates[i].rec, candidates[j].rec
		if !a.lastUsed.Equal(b.lastUsed) {
			return a.lastUsed.Before(b.lastUsed)
		}
		return a.firstSeen.Before(b.firstSeen)
	})
	var errs []error
	for _, c := range candidates {
		if res.Freed >= toFree {
			break
		}
		if _, err := g.Images.RemoveImage(ctx, &runtimeapi.RemoveImageRequest{Image: &runtimeapi.ImageSpec{Image: c.img.Id}}); err != nil {
			errs = append(errs, fmt.Errorf("remove image %s: %w", c.img.Id, err))
			continue
		}
		delete(g.state, c.img.Id)
		res.Removed = append(res.Removed, c.img.Id)
		res.Freed += c.img.Size
	}
	if res.Freed < toFree {
		errs = append(errs, fmt.Errorf("image GC: freed %d of the %d bytes needed to reach %d%%", res.Freed, toFree, low))
	}
	return res, errors.Join(errs...)
}

// Loop runs a pass every period until ctx ends, reporting each pass's
// error to onError (may be nil).
func (g *GC) Loop(ctx context.Context, period time.Duration, onError func(error)) {
	t := g.clock().NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
			if _, err := g.Run(ctx); err != nil && onError != nil {
				onError(err)
			}
		}
	}
}
