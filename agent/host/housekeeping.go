package host

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"

	"corral/agent/image"
	"corral/agent/logs"
	"corral/agent/runtime"
	"corral/agent/runtime/cri"
)

// Housekeeping limits, as kubelet's defaults.
const (
	logMaxSize      = 10 << 20 // containerLogMaxSize
	logMaxFiles     = 5        // containerLogMaxFiles
	logRotateEvery  = 10 * time.Second
	imageGCEvery    = 5 * time.Minute
	importDirEvery  = 10 * time.Second
	housekeepingCtx = time.Minute // bound on one round's runtime calls
)

// housekeeping runs until ctx ends: it imports tarballs dropped into the
// images directory, rotates container logs by size, and collects unused
// images when the image file system fills.
func housekeeping(ctx context.Context, rt *cri.Runtime, importer *image.DirImporter, importDir string) {
	logger := klog.FromContext(ctx)
	go wait.UntilWithContext(ctx, func(ctx context.Context) {
		if names, err := importer.ImportDir(ctx, importDir); err != nil {
			logger.Error(err, "importing images", "dir", importDir)
		} else if len(names) > 0 {
			logger.Info("imported images", "images", names)
		}
	}, importDirEvery)

	rtClient, imgClient := rt.Clients()
	gc := &image.GC{Images: imgClient, Runtime: rtClient}
	go gc.Loop(ctx, imageGCEvery, func(err error) { logger.Error(err, "image garbage collection") })

	logs.RotateLoop(ctx, clock.RealClock{}, logRotateEvery, logMaxSize, logMaxFiles, func() []logs.Target {
		return logTargets(ctx, rt)
	})
}

// logTargets lists the log files of running containers.
func logTargets(ctx context.Context, rt *cri.Runtime) []logs.Target {
	ctx, cancel := context.WithTimeout(ctx, housekeepingCtx)
	defer cancel()
	pods, err := rt.ListPods(ctx)
	if err != nil {
		return nil
	}
	var out []logs.Target
	for _, p := range pods {
		for _, c := range p.Containers {
			if c.State != runtime.ContainerRunning || c.LogPath == "" {
				continue
			}
			id := c.ID
			out = append(out, logs.Target{Path: c.LogPath, Reopen: func() error {
				rctx, cancel := context.WithTimeout(context.Background(), housekeepingCtx)
				defer cancel()
				return rt.ReopenContainerLog(rctx, id)
			}})
		}
	}
	return out
}
