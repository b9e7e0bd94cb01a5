package cri

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
)

// StopContainer stops one container: SIGTERM, SIGKILL after grace.
// An unknown container is not an error.
func (r *Runtime) StopContainer(ctx context.Context, id string, grace time.Duration) error {
	return r.stopContainer(ctx, rawID(id), grace)
}

func (r *Runtime) stopContainer(ctx context.Context, id string, grace time.Duration) error {
	secs := int64((grace + time.Second - 1) / time.Second) // round up: 0 means SIGKILL at once
	cctx, cancel := context.WithTimeout(ctx, grace+r.opts.RequestTimeout)
	defer cancel()
	_, err := r.rt.StopContainer(cctx, &runtimeapi.StopContainerRequest{ContainerId: id, Timeout: secs})
	if err != nil && !isNotFound(err) {
		return fmt.Errorf("StopContainer %s: %w", id, err)
	}
	return nil
}

// StopPod stops the pod's running containers in parallel, each with the
// grace period, then its sandboxes (which tears down the network).
func (r *Runtime) StopPod(ctx context.Context, uid types.UID, grace time.Duration) error {
	containers, err := r.containers(ctx, map[string]string{LabelPodUID: string(uid)})
	if err != nil {
		return err
	}
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for _, c := range containers {
		if c.State == runtimeapi.ContainerState_CONTAINER_EXITED {
			continue
		}
		wg.Add(1)
		go func(id string) {
			defer wg.Done()
			if err := r.stopContainer(ctx, id, grace); err != nil {
				mu.Lock()
				errs = append(errs, err)
				mu.Unlock()
			}
		}(c.Id)
	}
	wg.Wait()
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	sandboxes, err := r.sandboxes(ctx, uid)
	if err != nil {
		return err
	}
	for _, s := range sandboxes {
		// Stopped ones too: after a reboot a NotReady sandbox may still
		// hold its network; stopping again is a no-op otherwise.
		if err := r.stopSandbox(ctx, s.Id); err != nil {
			return err
		}
	}
	return nil
}

func (r *Runtime) stopSandbox(ctx context.Context, id string) error {
	cctx, cancel := r.call(ctx)
	defer cancel()
	if _, err := r.rt.StopPodSandbox(cctx, &runtimeapi.StopPodSandboxRequest{PodSandboxId: id}); err != nil && !isNotFound(err) {
		return fmt.Errorf("StopPodSandbox %s: %w", id, err)
	}
	return nil
}

// RemovePod removes the pod's containers and sandboxes, then its cgroup
// (containerd leaves the pod-level cgroup behind) and its logs.
func (r *Runtime) RemovePod(ctx context.Context, uid types.UID) error {
	containers, err := r.containers(ctx, map[string]string{LabelPodUID: string(uid)})
	if err != nil {
		return err
	}
	for _, c := range containers {
		cctx, cancel := r.call(ctx)
		_, err := r.rt.RemoveContainer(cctx, &runtimeapi.RemoveContainerRequest{ContainerId: c.Id})
		cancel()
		if err != nil && !isNotFound(err) {
			return fmt.Errorf("RemoveContainer %s: %w", c.Id, err)
		}
		r.mu.Lock()
		delete(r.exited, c.Id)
		r.mu.Unlock()
	}
	sandboxes, err := r.sandboxes(ctx, uid)
	if err != nil {
		return err
	}
	logDirs := map[string]bool{}
	for _, s := range sandboxes {
		if err := r.stopSandbox(ctx, s.Id); err != nil {
			return err
		}
		cctx, cancel := r.call(ctx)
		_, err := r.rt.RemovePodSandbox(cctx, &runtimeapi.RemovePodSandboxRequest{PodSandboxId: s.Id})
		cancel()
		if err != nil && !isNotFound(err) {
			return fmt.Errorf("RemovePodSandbox %s: %w", s.Id, err)
		}
		md := s.GetMetadata()
		logDirs[r.podLogDir(md.GetNamespace(), md.GetName(), uid)] = true
	}
	if err := r.removeCgroups(uid); err != nil {
		return err
	}
	for d := range logDirs {
		if err := os.RemoveAll(d); err != nil {
			return err
		}
	}
	return nil
}

// removeCgroups removes <hierarchy><CgroupRoot>/pod<uid> in every cgroup
// hierarchy mounted under CgroupFS (v1: one per controller; v2: the
// root itself), children first.
func (r *Runtime) removeCgroups(uid types.UID) error {
	rel := strings.TrimPrefix(r.podCgroup(uid), "/")
	roots := []string{r.opts.CgroupFS}
	entries, err := os.ReadDir(r.opts.CgroupFS)
	if err != nil && !os.IsNotExist(err) {
		return err
	}
	for _, e := range entries {
		if e.IsDir() { // symlinks (cpu -> cpu,cpuacct) are skipped
			roots = append(roots, filepath.Join(r.opts.CgroupFS, e.Name()))
		}
	}
	var errs []error
	for _, root := range roots {
		if err := RemoveCgroupTree(filepath.Join(root, rel)); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("removing the pod's cgroups: %w", errors.Join(errs...))
	}
	return nil
}

// RemoveCgroupTree rmdirs a cgroup and its child cgroups, deepest first
// (also used by the tests' host clean-up).
// Control files inside go with their directory.
func RemoveCgroupTree(dir string) error {
	entries, err := os.ReadDir(dir)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.IsDir() {
			if err := RemoveCgroupTree(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
	}
	if err := syscall.Rmdir(dir); err != nil && !errors.Is(err, syscall.ENOENT) {
		return fmt.Errorf("rmdir %s: %w", dir, err)
	}
	return nil
}
