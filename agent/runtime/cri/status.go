package cri

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"corral/agent/runtime"
)

// PodStatus reports the pod's newest sandbox and the containers of all
// its sandboxes (a recreated sandbox keeps the earlier attempts visible),
// or nil when the runtime has neither.
func (r *Runtime) PodStatus(ctx context.Context, uid types.UID) (*runtime.PodStatus, error) {
	sandboxes, err := r.sandboxes(ctx, uid)
	if err != nil {
		return nil, err
	}
	containers, err := r.containers(ctx, map[string]string{LabelPodUID: string(uid)})
	if err != nil {
		return nil, err
	}
	if len(sandboxes) == 0 && len(containers) == 0 {
		return nil, nil
	}
	return r.podStatus(ctx, uid, sandboxes, containers)
}

// ListPods reports every pod that has a sandbox labelled with a pod UID.
func (r *Runtime) ListPods(ctx context.Context) ([]*runtime.PodStatus, error) {
	cctx, cancel := r.call(ctx)
	defer cancel()
	sresp, err := r.rt.ListPodSandbox(cctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return nil, fmt.Errorf("ListPodSandbox: %w", err)
	}
	containers, err := r.containers(ctx, nil)
	if err != nil {
		return nil, err
	}
	sandboxes := map[types.UID][]*runtimeapi.PodSandbox{}
	for _, s := range sresp.Items {
		if uid := types.UID(s.Labels[LabelPodUID]); uid != "" {
			sandboxes[uid] = append(sandboxes[uid], s)
		}
	}
	byPod := map[types.UID][]*runtimeapi.Container{}
	for _, c := range containers {
		if uid := types.UID(c.Labels[LabelPodUID]); sandboxes[uid] != nil {
			byPod[uid] = append(byPod[uid], c)
		}
	}
	out := make([]*runtime.PodStatus, 0, len(sandboxes))
	for uid, sbs := range sandboxes {
		sortSandboxes(sbs)
		st, err := r.podStatus(ctx, uid, sbs, byPod[uid])
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

func (r *Runtime) containers(ctx context.Context, selector map[string]string) ([]*runtimeapi.Container, error) {
	cctx, cancel := r.call(ctx)
	defer cancel()
	req := &runtimeapi.ListContainersRequest{}
	if selector != nil {
		req.Filter = &runtimeapi.ContainerFilter{LabelSelector: selector}
	}
	resp, err := r.rt.ListContainers(cctx, req)
	if err != nil {
		return nil, fmt.Errorf("ListContainers: %w", err)
	}
	return resp.Containers, nil
}

// podStatus assembles a pod from its sandboxes (newest first) and
// containers, asking the runtime for each container's details except
// exited ones already known.
func (r *Runtime) podStatus(ctx context.Context, uid types.UID, sandboxes []*runtimeapi.PodSandbox, containers []*runtimeapi.Container) (*runtime.PodStatus, error) {
	st := &runtime.PodStatus{UID: uid}
	var logDir string
	if len(sandboxes) > 0 {
		sb := sandboxes[0]
		md := sb.GetMetadata()
		st.Namespace, st.Name = md.GetNamespace(), md.GetName()
		st.SandboxID, st.SandboxReady = sb.Id, sb.State == runtimeapi.PodSandboxState_SANDBOX_READY
		st.CreatedAt = nanos(sb.CreatedAt)
		logDir = r.podLogDir(st.Namespace, st.Name, uid)
		if st.SandboxReady {
			cctx, cancel := r.call(ctx)
			resp, err := r.rt.PodSandboxStatus(cctx, &runtimeapi.PodSandboxStatusRequest{PodSandboxId: sb.Id})
			cancel()
			switch {
			case isNotFound(err):
				st.SandboxReady = false
			case err != nil:
				return nil, fmt.Errorf("PodSandboxStatus: %w", err)
			default:
				if n := resp.GetStatus().GetNetwork(); n != nil && n.Ip != "" {
					st.IPs = append(st.IPs, n.Ip)
					for _, ip := range n.AdditionalIps {
						st.IPs = append(st.IPs, ip.Ip)
					}
				}
				st.SandboxReady = resp.GetStatus().GetState() == runtimeapi.PodSandboxState_SANDBOX_READY
			}
		}
	}
	for _, c := range containers {
		r.mu.Lock()
		cs, ok := r.exited[c.Id]
		r.mu.Unlock()
		if !ok {
			cctx, cancel := r.call(ctx)
			resp, err := r.rt.ContainerStatus(cctx, &runtimeapi.ContainerStatusRequest{ContainerId: c.Id})
			cancel()
			if isNotFound(err) {
				continue // removed meanwhile
			}
			if err != nil {
				return nil, fmt.Errorf("ContainerStatus of %s: %w", c.Id, err)
			}
			cs = convertStatus(resp.Status, logDir)
			if cs.State == runtime.ContainerExited {
				r.mu.Lock()
				r.exited[c.Id] = cs
				r.mu.Unlock()
			}
		}
		st.Containers = append(st.Containers, cs)
	}
	return st, nil
}

// convertStatus maps a CRI container status; logDir is the pod's log
// directory for runtimes that report log paths relative to it.
func convertStatus(s *runtimeapi.ContainerStatus, logDir string) runtime.ContainerStatus {
	cs := runtime.ContainerStatus{
		ID: ContainerPrefix + "://" + s.Id, Name: s.GetMetadata().GetName(), Attempt: int32(s.GetMetadata().GetAttempt()),
		Image: s.Annotations[AnnotationImage], ImageRef: s.ImageRef,
		CreatedAt: nanos(s.CreatedAt), StartedAt: nanos(s.StartedAt), FinishedAt: nanos(s.FinishedAt),
		ExitCode: s.ExitCode, Reason: s.Reason, Message: s.Message,
	}
	if cs.Image == "" {
		cs.Image = s.GetImage().GetImage()
	}
	if cs.ImageRef == "" {
		cs.ImageRef = s.ImageId
	}
	if p := s.LogPath; p != "" {
		if !filepath.IsAbs(p) && logDir != "" {
			p = filepath.Join(logDir, p)
		}
		cs.LogPath = p
	}
	switch s.State {
	case runtimeapi.ContainerState_CONTAINER_CREATED:
		cs.State = runtime.ContainerCreated
	case runtimeapi.ContainerState_CONTAINER_RUNNING:
		cs.State = runtime.ContainerRunning
	case runtimeapi.ContainerState_CONTAINER_EXITED:
		cs.State = runtime.ContainerExited
		// containerd stamps the start after StartContainer returns: a
		// process that exits at once can finish "before" it started.
		if !cs.StartedAt.IsZero() && cs.FinishedAt.Before(cs.StartedAt) {
			cs.FinishedAt = cs.StartedAt
		}
		if cs.Reason == "" {
			cs.Reason = "Error"
			if cs.ExitCode == 0 {
				cs.Reason = "Completed"
			}
		}
		if cs.Message == "" {
			cs.Message = terminationMessage(s, cs.LogPath)
		}
	default:
		cs.State = runtime.ContainerUnknown
	}
	return cs
}

// Limits of termination messages, as kubelet's.
const (
	maxMessageBytes = 4096
	maxLogTailBytes = 2048
	maxLogTailLines = 80
)

// terminationMessage is what the container wrote to its termination
// message file or, with FallbackToLogsOnError and a failure, its log's
// tail.
func terminationMessage(s *runtimeapi.ContainerStatus, logPath string) string {
	if host := s.Annotations[AnnotationTerminationLogHost]; host != "" {
		if b, err := readHead(host, maxMessageBytes); err == nil && len(b) > 0 {
			return string(b)
		}
	}
	if s.ExitCode != 0 && s.Annotations[AnnotationTerminationPolicy] == string(corev1.TerminationMessageFallbackToLogsOnError) && logPath != "" {
		return logTail(logPath)
	}
	return ""
}

func readHead(path string, n int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, n))
}

// logTail returns the messages of the last lines of a CRI-format log
// ("<time> <stream> <P|F> <message>"), at most 80 lines and 2 KiB.
func logTail(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	const window = 64 << 10 // raw bytes read: the prefixes take room too
	seeked := false
	if fi, err := f.Stat(); err == nil && fi.Size() > window {
		if _, err := f.Seek(fi.Size()-window, io.SeekStart); err != nil {
			return ""
		}
		seeked = true
	}
	raw, err := io.ReadAll(f)
	if err != nil {
		return ""
	}
	if i := bytes.IndexByte(raw, '\n'); seeked && i >= 0 {
		raw = raw[i+1:] // the window starts inside a line
	}
	var msg bytes.Buffer
	for _, line := range strings.Split(string(raw), "\n") {
		parts := strings.SplitN(line, " ", 4)
		if len(parts) < 4 {
			continue
		}
		msg.WriteString(parts[3])
		if parts[2] != "P" {
			msg.WriteByte('\n')
		}
	}
	lines := strings.SplitAfter(msg.String(), "\n")
	if n := len(lines); n > 0 && lines[n-1] == "" {
		lines = lines[:n-1]
	}
	if len(lines) > maxLogTailLines {
		lines = lines[len(lines)-maxLogTailLines:]
	}
	out := strings.Join(lines, "")
	if len(out) > maxLogTailBytes {
		out = out[len(out)-maxLogTailBytes:]
	}
	return out
}

func nanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}
