package cri

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	goruntime "runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"corral/agent/image"
	"corral/agent/runtime"
)

// NodeInfo reports the host (CPUs, memory, the data directory's file
// system, OS and kernel) and the runtime's version. It fails, marking the
// node NotReady as kubelet does, when the runtime does not answer or
// reports its runtime or network (CNI config) not ready.
func (r *Runtime) NodeInfo(ctx context.Context) (runtime.NodeInfo, error) {
	cctx, cancel := r.call(ctx)
	defer cancel()
	v, err := r.rt.Version(cctx, &runtimeapi.VersionRequest{})
	if err != nil {
		return runtime.NodeInfo{}, fmt.Errorf("container runtime is down: %w", err)
	}
	st, err := r.rt.Status(cctx, &runtimeapi.StatusRequest{})
	if err != nil {
		return runtime.NodeInfo{}, fmt.Errorf("container runtime status check failed: %w", err)
	}
	info := runtime.NodeInfo{
		OS: goruntime.GOOS, Arch: goruntime.GOARCH,
		RuntimeVersion:  v.RuntimeName + "://" + v.RuntimeVersion,
		ContainerPrefix: ContainerPrefix,
		OSImage:         osImage(),
		MachineID:       readTrimmed("/etc/machine-id"),
		SystemUUID:      strings.ToLower(readTrimmed("/sys/class/dmi/id/product_uuid")),
		BootID:          readTrimmed("/proc/sys/kernel/random/boot_id"),
		Capacity: corev1.ResourceList{
			corev1.ResourceCPU: *resource.NewQuantity(int64(goruntime.NumCPU()), resource.DecimalSI),
		},
	}
	var uts unix.Utsname
	if err := unix.Uname(&uts); err == nil {
		info.KernelVersion = unix.ByteSliceToString(uts.Release[:])
	}
	mem, err := memTotal()
	if err != nil {
		return runtime.NodeInfo{}, err
	}
	info.Capacity[corev1.ResourceMemory] = *resource.NewQuantity(mem, resource.BinarySI)
	fs, err := image.Statfs(r.opts.DataDir)
	if err != nil {
		return runtime.NodeInfo{}, err
	}
	info.Capacity[corev1.ResourceEphemeralStorage] = *resource.NewQuantity(int64(fs.CapacityBytes), resource.BinarySI)
	// Not ready still reports the machine, so the node shows its capacity.
	for _, c := range st.GetStatus().GetConditions() {
		if (c.Type == runtimeapi.RuntimeReady || c.Type == runtimeapi.NetworkReady) && !c.Status {
			return info, fmt.Errorf("container runtime not ready: %s=false reason:%s message:%s", c.Type, c.Reason, c.Message)
		}
	}
	return info, nil
}

// UpdatePodCIDR tells the runtime the node's pod CIDR. corral writes the
// CNI config itself (agent/network); runtimes without the RPC are fine.
func (r *Runtime) UpdatePodCIDR(cidr string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := r.rt.UpdateRuntimeConfig(ctx, &runtimeapi.UpdateRuntimeConfigRequest{
		RuntimeConfig: &runtimeapi.RuntimeConfig{NetworkConfig: &runtimeapi.NetworkConfig{PodCidr: cidr}}})
	if status.Code(err) == codes.Unimplemented {
		return nil
	}
	return err
}

// memTotal is MemTotal of /proc/meminfo in bytes.
func memTotal() (int64, error) {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return 0, err
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fields := strings.Fields(s.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/meminfo: %w", err)
			}
			return kb * 1024, nil
		}
	}
	return 0, errors.New("/proc/meminfo has no MemTotal")
}

// osImage is PRETTY_NAME of /etc/os-release.
func osImage() string {
	b, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return "Unknown"
	}
	for _, line := range bytes.Split(b, []byte("\n")) {
		if v, ok := bytes.CutPrefix(line, []byte("PRETTY_NAME=")); ok {
			if s, err := strconv.Unquote(string(v)); err == nil {
				return s
			}
			return strings.Trim(string(v), `"'`)
		}
	}
	return "Linux"
}

func readTrimmed(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}
