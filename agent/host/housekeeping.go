package host

import (
	"context"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2"

	"corral/agent/image"
	"corral/agent/runtime/cri"
)

// housekeeping imports tarballs dropped into the images directory while
// the node runs, and collects unused images when the disk fills.
func housekeeping(ctx context.Context, rt *cri.Runtime, importer *image.DirImporter, importDir string) {
	logger := klog.FromContext(ctx)
	go wait.UntilWithContext(ctx, func(ctx context.Context) {
		if names, err := importer.ImportDir(ctx, importDir); err != nil {
			logger.Error(err, "importing images", "dir", importDir)
		} else if len(names) > 0 {
			logger.Info("imported images", "images", names)
		}
	}, 10*time.Second)
	<-ctx.Done()
}
