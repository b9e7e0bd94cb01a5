package cri

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"

	"corral/agent/image"
	"corral/agent/stats"
)

// hostStats adds the node's file systems and task count to out. Each is
// optional: a failure only leaves its signal out (logged at V(2)), so
// that CPU and memory are still reported.
func (r *Runtime) hostStats(ctx context.Context, out *stats.NodeReading, now time.Time) {
	logger := klog.FromContext(ctx)
	if fs, err := fsStats(r.opts.DataDir, now); err == nil {
		out.Fs = fs
	} else {
		logger.V(2).Info("no node file system stats", "err", err)
	}
	if fs, err := r.imageFsStats(ctx, now); err == nil {
		out.ImageFs = fs
	} else {
		logger.V(2).Info("no image file system stats", "err", err)
	}
	if rl, err := procRlimit("/proc", now); err == nil {
		out.Rlimit = rl
	} else {
		logger.V(2).Info("no task count", "err", err)
	}
}

// imageFsStats is the file system the runtime keeps its images on, as
// ImageFsInfo names it (containerd's root), with the runtime's own figure
// for the bytes its images use.
func (r *Runtime) imageFsStats(ctx context.Context, now time.Time) (*stats.FsStats, error) {
	cctx, cancel := r.call(ctx)
	defer cancel()
	resp, err := r.img.ImageFsInfo(cctx, &runtimeapi.ImageFsInfoRequest{})
	if err != nil {
		return nil, fmt.Errorf("ImageFsInfo: %w", err)
	}
	if len(resp.ImageFilesystems) == 0 || resp.ImageFilesystems[0].GetFsId().GetMountpoint() == "" {
		return nil, fmt.Errorf("ImageFsInfo names no image file system")
	}
	info := resp.ImageFilesystems[0]
	out, err := fsStats(info.FsId.Mountpoint, now)
	if err != nil {
		return nil, err
	}
	if info.UsedBytes != nil {
		out.UsedBytes = &info.UsedBytes.Value
	}
	if info.InodesUsed != nil {
		out.InodesUsed = &info.InodesUsed.Value
	}
	return out, nil
}

// fsStats is the file system holding path; used is what is not free.
func fsStats(path string, now time.Time) (*stats.FsStats, error) {
	fs, err := image.Statfs(path)
	if err != nil {
		return nil, err
	}
	used := fs.CapacityBytes - min(fs.CapacityBytes, fs.AvailableBytes)
	inodesUsed := fs.Inodes - min(fs.Inodes, fs.InodesFree)
	return &stats.FsStats{Time: now, AvailableBytes: &fs.AvailableBytes, CapacityBytes: &fs.CapacityBytes, UsedBytes: &used,
		Inodes: &fs.Inodes, InodesFree: &fs.InodesFree, InodesUsed: &inodesUsed}, nil
}

// procRlimit reads the task limit and count as kubelet's pidlimit
// package does: the limit is the lower of kernel.pid_max and
// kernel.threads-max (both bound the tasks of the whole system), the
// count the total of /proc/loadavg's fourth field (every process and
// thread; sysinfo(2) would truncate it past 65535).
func procRlimit(proc string, now time.Time) (*stats.RlimitStats, error) {
	limit := int64(-1)
	var errs []error
	for _, f := range []string{"sys/kernel/pid_max", "sys/kernel/threads-max"} {
		v, err := readInt(filepath.Join(proc, f))
		switch {
		case err != nil:
			errs = append(errs, err) // the other one still bounds
		case limit < 0 || v < limit:
			limit = v
		}
	}
	if limit < 0 {
		return nil, errors.Join(errs...)
	}
	b, err := os.ReadFile(filepath.Join(proc, "loadavg"))
	if err != nil {
		return nil, err
	}
	// e.g. "0.32 0.41 0.39 3/231 2901": running/total tasks in field 4.
	fields := strings.Fields(string(b))
	if len(fields) < 4 {
		return nil, fmt.Errorf("%s/loadavg: %q has too few fields", proc, b)
	}
	_, total, ok := strings.Cut(fields[3], "/")
	if !ok {
		return nil, fmt.Errorf("%s/loadavg: no task count in %q", proc, fields[3])
	}
	tasks, err := strconv.ParseInt(total, 10, 64)
	if err != nil {
		return nil, fmt.Errorf("%s/loadavg: %w", proc, err)
	}
	return &stats.RlimitStats{Time: now, MaxPID: &limit, NumOfRunningProcesses: &tasks}, nil
}

func readInt(path string) (int64, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return v, nil
}
