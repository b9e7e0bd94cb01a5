package printers

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func running() corev1.ContainerState {
	return corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}
}

func waiting(reason string) corev1.ContainerState {
	return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}
}

func terminated(reason string, code int32) corev1.ContainerState {
	return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: reason, ExitCode: code}}
}

func TestPodStatus(t *testing.T) {
	now := metav1.Now()
	containers := []corev1.Container{{Name: "a"}, {Name: "b"}}
	tests := []struct {
		name       string
		pod        corev1.Pod
		ready      string
		status     string
		restarts   string
		completed  bool
		conditions int
	}{
		{
			name: "running",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers}, Status: corev1.PodStatus{Phase: corev1.PodRunning,
				ContainerStatuses: []corev1.ContainerStatus{{Name: "a", Ready: true, State: running()}, {Name: "b", Ready: true, State: running()}}}},
			ready: "2/2", status: "Running", restarts: "0",
		},
		{
			name:  "pending, unscheduled",
			pod:   corev1.Pod{Spec: corev1.PodSpec{Containers: containers}, Status: corev1.PodStatus{Phase: corev1.PodPending}},
			ready: "0/2", status: "Pending", restarts: "0",
		},
		{
			name: "pending, creating containers",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers}, Status: corev1.PodStatus{Phase: corev1.PodPending,
				ContainerStatuses: []corev1.ContainerStatus{{Name: "a", State: waiting("ContainerCreating")}, {Name: "b", State: waiting("ContainerCreating")}}}},
			ready: "0/2", status: "ContainerCreating", restarts: "0",
		},
		{
			name: "crash loop",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers}, Status: corev1.PodStatus{Phase: corev1.PodRunning,
				ContainerStatuses: []corev1.ContainerStatus{
					{Name: "a", RestartCount: 5, State: waiting("CrashLoopBackOff"), LastTerminationState: corev1.ContainerState{
						Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, FinishedAt: metav1.NewTime(now.Add(-5 * time.Minute))}}},
					{Name: "b", Ready: true, State: running()},
				}}},
			ready: "1/2", status: "CrashLoopBackOff", restarts: "5 (5m ago)",
		},
		{
			name: "completed",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers[:1]}, Status: corev1.PodStatus{Phase: corev1.PodSucceeded,
				ContainerStatuses: []corev1.ContainerStatus{{Name: "a", State: terminated("Completed", 0)}}}},
			ready: "0/1", status: "Completed", restarts: "0", conditions: 1,
		},
		{
			name: "error",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers[:1]}, Status: corev1.PodStatus{Phase: corev1.PodFailed,
				ContainerStatuses: []corev1.ContainerStatus{{Name: "a", State: terminated("Error", 1)}}}},
			ready: "0/1", status: "Error", restarts: "0", conditions: 1,
		},
		{
			name: "exit code without reason",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers[:1]}, Status: corev1.PodStatus{Phase: corev1.PodFailed,
				ContainerStatuses: []corev1.ContainerStatus{{Name: "a", State: terminated("", 137)}}}},
			ready: "0/1", status: "ExitCode:137", restarts: "0", conditions: 1,
		},
		{
			name: "one container completed, one running",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers}, Status: corev1.PodStatus{Phase: corev1.PodRunning,
				Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}},
				ContainerStatuses: []corev1.ContainerStatus{{Name: "a", State: terminated("Completed", 0)}, {Name: "b", Ready: true, State: running()}}}},
			ready: "1/2", status: "NotReady", restarts: "0",
		},
		{
			name: "terminating",
			pod: corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &now}, Spec: corev1.PodSpec{Containers: containers[:1]},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{Name: "a", Ready: true, State: running()}}}},
			ready: "1/1", status: "Terminating", restarts: "0",
		},
		{
			name: "deleted on a lost node",
			pod: corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &now}, Spec: corev1.PodSpec{Containers: containers[:1]},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, Reason: "NodeLost"}},
			ready: "0/1", status: "Unknown", restarts: "0",
		},
		{
			name: "evicted",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers[:1]},
				Status: corev1.PodStatus{Phase: corev1.PodFailed, Reason: "Evicted"}},
			ready: "0/1", status: "Evicted", restarts: "0", conditions: 1,
		},
		{
			name: "scheduling gated",
			pod: corev1.Pod{Spec: corev1.PodSpec{Containers: containers[:1]}, Status: corev1.PodStatus{Phase: corev1.PodPending,
				Conditions: []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: corev1.PodReasonSchedulingGated}}}},
			ready: "0/1", status: "SchedulingGated", restarts: "0",
		},
		{
			name: "first init container running",
			pod: corev1.Pod{Spec: corev1.PodSpec{InitContainers: []corev1.Container{{Name: "init"}}, Containers: containers[:1]},
				Status: corev1.PodStatus{Phase: corev1.PodPending,
					InitContainerStatuses: []corev1.ContainerStatus{{Name: "init", State: running()}},
					ContainerStatuses:     []corev1.ContainerStatus{{Name: "a", State: waiting("PodInitializing")}}}},
			ready: "0/1", status: "Init:0/1", restarts: "0",
		},
		{
			name: "second init container waiting",
			pod: corev1.Pod{Spec: corev1.PodSpec{InitContainers: []corev1.Container{{Name: "i1"}, {Name: "i2"}}, Containers: containers[:1]},
				Status: corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{
					{Name: "i1", State: terminated("Completed", 0)}, {Name: "i2", State: waiting("PodInitializing")}}}},
			ready: "0/1", status: "Init:1/2", restarts: "0",
		},
		{
			name: "init container crash loop",
			pod: corev1.Pod{Spec: corev1.PodSpec{InitContainers: []corev1.Container{{Name: "init"}}, Containers: containers[:1]},
				Status: corev1.PodStatus{Phase: corev1.PodPending, InitContainerStatuses: []corev1.ContainerStatus{
					{Name: "init", RestartCount: 3, State: waiting("CrashLoopBackOff")}}}},
			ready: "0/1", status: "Init:CrashLoopBackOff", restarts: "3",
		},
		{
			name: "init container failed",
			pod: corev1.Pod{Spec: corev1.PodSpec{InitContainers: []corev1.Container{{Name: "init"}}, Containers: containers[:1]},
				Status: corev1.PodStatus{Phase: corev1.PodFailed, InitContainerStatuses: []corev1.ContainerStatus{
					{Name: "init", State: terminated("Error", 1)}}}},
			ready: "0/1", status: "Init:Error", restarts: "0", conditions: 1,
		},
		{
			name: "running sidecar counts as a container",
			pod: corev1.Pod{Spec: corev1.PodSpec{
				InitContainers: []corev1.Container{{Name: "proxy", RestartPolicy: ptr(corev1.ContainerRestartPolicyAlways)}},
				Containers:     containers[:1]},
				Status: corev1.PodStatus{Phase: corev1.PodRunning,
					Conditions: []corev1.PodCondition{{Type: corev1.PodInitialized, Status: corev1.ConditionTrue}},
					InitContainerStatuses: []corev1.ContainerStatus{
						{Name: "proxy", Ready: true, Started: ptr(true), RestartCount: 1, State: running()}},
					ContainerStatuses: []corev1.ContainerStatus{{Name: "a", Ready: true, State: running()}}}},
			ready: "2/2", status: "Running", restarts: "1",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.pod.Name = "p"
			tbl := convert(t, gr("", "pods"), &tc.pod, nil)
			cells := cellsByName(t, tbl, 0)
			if cells["Ready"] != tc.ready || cells["Status"] != tc.status || cells["Restarts"] != tc.restarts {
				t.Errorf("READY STATUS RESTARTS = %v %v %v, want %v %v %v",
					cells["Ready"], cells["Status"], cells["Restarts"], tc.ready, tc.status, tc.restarts)
			}
			if got := len(tbl.Rows[0].Conditions); got != tc.conditions {
				t.Errorf("%d row conditions, want %d", got, tc.conditions)
			}
		})
	}
}

func TestPodWideCells(t *testing.T) {
	pod := &corev1.Pod{
		ObjectMeta: om("p"),
		Spec: corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "a"}},
			ReadinessGates: []corev1.PodReadinessGate{{ConditionType: "example.com/lb"}, {ConditionType: "example.com/dns"}}},
		Status: corev1.PodStatus{PodIPs: []corev1.PodIP{{IP: "10.1.0.5"}, {IP: "fd00::5"}},
			Conditions: []corev1.PodCondition{{Type: "example.com/lb", Status: corev1.ConditionTrue}}},
	}
	cells := cellsByName(t, convert(t, gr("", "pods"), pod, nil), 0)
	want := map[string]string{"IP": "10.1.0.5", "Node": "n1", "Nominated Node": "<none>", "Readiness Gates": "1/2"}
	for col, w := range want {
		if cells[col] != w {
			t.Errorf("%s = %v, want %s", col, cells[col], w)
		}
	}
}
