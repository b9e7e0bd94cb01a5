package cri

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"google.golang.org/grpc"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"corral/agent/stats"
)

func TestProcRlimit(t *testing.T) {
	now := time.Unix(42, 0)
	for _, tc := range []struct {
		name                  string
		pidMax, threads, load string // "" leaves the file out
		wantMax, wantTasks    int64
		wantErr               bool
	}{
		{name: "pid_max bounds", pidMax: "32768\n", threads: "192735\n", load: "0.32 0.41 0.39 3/231 2901\n", wantMax: 32768, wantTasks: 231},
		{name: "threads-max bounds", pidMax: "4194304\n", threads: "63000\n", load: "1 1 1 1/70000 9\n", wantMax: 63000, wantTasks: 70000},
		{name: "one limit is enough", threads: "500\n", load: "0 0 0 1/20 9\n", wantMax: 500, wantTasks: 20},
		{name: "no limit", load: "0 0 0 1/20 9\n", wantErr: true},
		{name: "no loadavg", pidMax: "100\n", wantErr: true},
		{name: "malformed loadavg", pidMax: "100\n", load: "0 0 0 20\n", wantErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.MkdirAll(filepath.Join(dir, "sys", "kernel"), 0o755); err != nil {
				t.Fatal(err)
			}
			for f, v := range map[string]string{"sys/kernel/pid_max": tc.pidMax, "sys/kernel/threads-max": tc.threads, "loadavg": tc.load} {
				if v != "" {
					if err := os.WriteFile(filepath.Join(dir, f), []byte(v), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
			got, err := procRlimit(dir, now)
			if tc.wantErr {
				if err == nil {
					t.Fatalf("want an error, got %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if *got.MaxPID != tc.wantMax || *got.NumOfRunningProcesses != tc.wantTasks || !got.Time.Equal(now) {
				t.Errorf("max %d tasks %d, want %d %d", *got.MaxPID, *got.NumOfRunningProcesses, tc.wantMax, tc.wantTasks)
			}
		})
	}
}

// imageFsCRI reports an image file system at mountpoint.
type imageFsCRI struct {
	runtimeapi.UnimplementedImageServiceServer
	mountpoint string
}

func (f *imageFsCRI) ImageFsInfo(context.Context, *runtimeapi.ImageFsInfoRequest) (*runtimeapi.ImageFsInfoResponse, error) {
	return &runtimeapi.ImageFsInfoResponse{ImageFilesystems: []*runtimeapi.FilesystemUsage{{
		FsId: &runtimeapi.FilesystemIdentifier{Mountpoint: f.mountpoint}, UsedBytes: u64(123), InodesUsed: u64(4)}}}, nil
}

// serveHostStats serves a runtime (and, with mountpoint, an image
// service reporting that image file system) and connects to it.
func serveHostStats(t *testing.T, mountpoint, dataDir string) *Runtime {
	sock := filepath.Join(t.TempDir(), "cri.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	runtimeapi.RegisterRuntimeServiceServer(srv, &statsCRI{})
	if mountpoint != "" {
		runtimeapi.RegisterImageServiceServer(srv, &imageFsCRI{mountpoint: mountpoint})
	}
	go srv.Serve(l)
	t.Cleanup(srv.Stop)
	return newTestRuntime(t, sock, func(o *Options) { o.DataDir = dataDir })
}

func TestHostStats(t *testing.T) {
	dataDir := t.TempDir()
	r := serveHostStats(t, t.TempDir(), dataDir)
	now := time.Unix(42, 0)
	var out stats.NodeReading
	r.hostStats(context.Background(), &out, now)
	for name, fs := range map[string]*stats.FsStats{"nodefs": out.Fs, "imagefs": out.ImageFs} {
		if fs == nil || *fs.CapacityBytes == 0 || *fs.AvailableBytes > *fs.CapacityBytes || *fs.Inodes == 0 ||
			*fs.InodesFree > *fs.Inodes || !fs.Time.Equal(now) {
			t.Fatalf("%s: %+v", name, fs)
		}
	}
	if *out.ImageFs.UsedBytes != 123 || *out.ImageFs.InodesUsed != 4 {
		t.Errorf("imagefs use %d bytes %d inodes, want the runtime's figures", *out.ImageFs.UsedBytes, *out.ImageFs.InodesUsed)
	}
	if *out.Fs.UsedBytes != *out.Fs.CapacityBytes-*out.Fs.AvailableBytes {
		t.Errorf("nodefs used %d", *out.Fs.UsedBytes)
	}
	if out.Rlimit == nil || *out.Rlimit.MaxPID <= 0 || *out.Rlimit.NumOfRunningProcesses <= 0 {
		t.Errorf("rlimit %+v", out.Rlimit)
	}

	// A runtime without ImageFsInfo still gets the rest reported.
	r = serveHostStats(t, "", dataDir)
	out = stats.NodeReading{}
	r.hostStats(context.Background(), &out, now)
	if out.ImageFs != nil || out.Fs == nil || out.Rlimit == nil {
		t.Errorf("without image service: imagefs %+v nodefs %+v rlimit %+v", out.ImageFs, out.Fs, out.Rlimit)
	}
}
