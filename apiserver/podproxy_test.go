package apiserver

import (
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func TestPodParameterCodec(t *testing.T) {
	codec := podParameterCodec{metav1.ParameterCodec}
	gv := corev1.SchemeGroupVersion

	var logs corev1.PodLogOptions
	q := url.Values{"container": {"app"}, "follow": {"true"}, "previous": {"0"}, "timestamps": {""}, "tailLines": {"5"},
		"sinceTime": {"2026-01-02T03:04:05Z"}, "limitBytes": {"100"}, "stream": {"Stderr"}}
	if err := codec.DecodeParameters(q, gv, &logs); err != nil {
		t.Fatal(err)
	}
	five, hundred, stderr := int64(5), int64(100), "Stderr"
	want := corev1.PodLogOptions{Container: "app", Follow: true, Timestamps: true, TailLines: &five, LimitBytes: &hundred, Stream: &stderr,
		SinceTime: &metav1.Time{Time: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}}
	if !reflect.DeepEqual(logs, want) {
		t.Errorf("log options: got %+v, want %+v", logs, want)
	}
	if err := codec.DecodeParameters(url.Values{"tailLines": {"x"}}, gv, &corev1.PodLogOptions{}); !apierrors.IsBadRequest(err) {
		t.Errorf("bad tailLines: want 400, got %v", err)
	}

	var exec corev1.PodExecOptions
	if err := codec.DecodeParameters(url.Values{"command": {"sh", "-c", "ls"}, "stdout": {"true"}, "tty": {"1"}}, gv, &exec); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(exec, corev1.PodExecOptions{Command: []string{"sh", "-c", "ls"}, Stdout: true, TTY: true}) {
		t.Errorf("exec options: %+v", exec)
	}
	var pf corev1.PodPortForwardOptions
	if err := codec.DecodeParameters(url.Values{"ports": {"80", "8080"}}, gv, &pf); err != nil || !reflect.DeepEqual(pf.Ports, []int32{80, 8080}) {
		t.Errorf("port-forward options: %+v %v", pf, err)
	}
	if err := codec.DecodeParameters(url.Values{"ports": {"70000"}}, gv, &corev1.PodPortForwardOptions{}); !apierrors.IsBadRequest(err) {
		t.Errorf("bad port: want 400, got %v", err)
	}

	// Other types still go to the wrapped codec.
	wrapped := &recordingCodec{ParameterCodec: metav1.ParameterCodec}
	if err := (podParameterCodec{wrapped}).DecodeParameters(url.Values{"limit": {"3"}}, metav1.SchemeGroupVersion, &metav1.ListOptions{}); err != nil || wrapped.calls != 1 {
		t.Errorf("list options not delegated: %d calls, %v", wrapped.calls, err)
	}
}

type recordingCodec struct {
	runtime.ParameterCodec
	calls int
}

func (c *recordingCodec) DecodeParameters(url.Values, schema.GroupVersion, runtime.Object) error {
	c.calls++
	return nil
}

func TestValidateLogOptions(t *testing.T) {
	neg, zero, one := int64(-1), int64(0), int64(1)
	all, bogus := corev1.LogStreamAll, "Bogus"
	good := []corev1.PodLogOptions{{}, {TailLines: &zero}, {LimitBytes: &one, SinceSeconds: &one}, {Stream: &all, TailLines: &one}}
	bad := []corev1.PodLogOptions{{TailLines: &neg}, {LimitBytes: &zero}, {SinceSeconds: &zero},
		{SinceSeconds: &one, SinceTime: &metav1.Time{}}, {Stream: &bogus}}
	for _, o := range good {
		if err := validateLogOptions(&o); err != nil {
			t.Errorf("%+v: %v", o, err)
		}
	}
	for _, o := range bad {
		if err := validateLogOptions(&o); !apierrors.IsBadRequest(err) {
			t.Errorf("%+v: want 400, got %v", o, err)
		}
	}
}

func TestNodeAddress(t *testing.T) {
	node := &corev1.Node{Status: corev1.NodeStatus{Addresses: []corev1.NodeAddress{
		{Type: corev1.NodeHostName, Address: "n1"}, {Type: corev1.NodeExternalIP, Address: "203.0.113.1"}, {Type: corev1.NodeInternalIP, Address: "10.0.0.1"}}}}
	if got := nodeAddress(node); got != "10.0.0.1" {
		t.Errorf("got %q, want the internal IP", got)
	}
	node.Status.Addresses = node.Status.Addresses[:1]
	if got := nodeAddress(node); got != "n1" {
		t.Errorf("got %q, want the host name", got)
	}
	if got := nodeAddress(&corev1.Node{}); got != "" {
		t.Errorf("got %q for a node without addresses", got)
	}
}

func TestNeverRanError(t *testing.T) {
	waiting := func(reason string) corev1.ContainerState {
		return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}
	}
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Status: corev1.PodStatus{
		InitContainerStatuses: []corev1.ContainerStatus{{Name: "init", State: waiting("ErrImagePull")}},
		ContainerStatuses: []corev1.ContainerStatus{
			{Name: "backoff", State: waiting("ImagePullBackOff")},
			{Name: "never", State: waiting("ErrImageNeverPull")},
			{Name: "creating", State: waiting("ContainerCreating")},
			{Name: "crashed", State: waiting("CrashLoopBackOff"), ContainerID: "containerd://x",
				LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1}}},
			{Name: "running", State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}, ContainerID: "containerd://y"},
		}}}
	for name, want := range map[string]string{
		"init":    `container "init" in pod "p" is waiting to start: image can't be pulled`,
		"backoff": `container "backoff" in pod "p" is waiting to start: trying and failing to pull image`,
		"never":   `container "never" in pod "p" is waiting to start: ErrImageNeverPull`,
	} {
		err := neverRanError(pod, name, false)
		if !apierrors.IsBadRequest(err) || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: got %v, want 400 %q", name, err, want)
		}
		if err := neverRanError(pod, name, true); err != nil {
			t.Errorf("%s --previous: left to the agent, got %v", name, err)
		}
	}
	for _, name := range []string{"creating", "crashed", "running", "unknown"} {
		if err := neverRanError(pod, name, false); err != nil {
			t.Errorf("%s: left to the agent, got %v", name, err)
		}
	}
}
