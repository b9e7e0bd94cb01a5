package e2e

import (
	"bufio"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/utils/ptr"
)

// runOnce runs pods of one busybox container (restartPolicy Never) and
// returns each one's log once it succeeded.
func (c *cluster) runOnce(t *testing.T, ns string, pods ...*corev1.Pod) map[string]string {
	t.Helper()
	for _, p := range pods {
		p.Spec.RestartPolicy = corev1.RestartPolicyNever
		c.create(t, ns, p)
	}
	logs := map[string]string{}
	for _, p := range pods {
		got := c.waitPod(t, ns, p.Name, 2*time.Minute, "finished", func(p *corev1.Pod) bool { return isTerminalPhase(p.Status.Phase) })
		if got.Status.Phase != corev1.PodSucceeded {
			log, _ := c.kubectl(t, "-n", ns, "logs", p.Name)
			t.Fatalf("pod %s failed: %+v\nlog: %s", p.Name, got.Status.ContainerStatuses, log)
		}
		logs[p.Name] = c.mustKubectl(t, "-n", ns, "logs", p.Name)
		t.Logf("pod %s printed:\n%s", p.Name, logs[p.Name])
	}
	return logs
}

func isTerminalPhase(p corev1.PodPhase) bool {
	return p == corev1.PodSucceeded || p == corev1.PodFailed
}

// Requests and limits reach the container's cgroups as kubelet computes
// them (cgroup v1, cgroupfs): cpu.shares = request milliCPU*1024/1000,
// cfs_quota_us = limit milliCPU*100000/1000 with a 100ms period,
// memory.limit_in_bytes = the memory limit; oom_score_adj and the pod's
// QoS class follow the class.
func TestResourcesReachCgroups(t *testing.T) {
	c := sharedCluster(t)
	if _, err := os.Stat("/sys/fs/cgroup/cpu/cpu.shares"); err != nil {
		t.Skip("needs cgroup v1 with the cpu controller at /sys/fs/cgroup/cpu")
	}
	ns := c.namespace(t)
	const script = `cd /sys/fs/cgroup; echo shares=$(cat cpu/cpu.shares) quota=$(cat cpu/cpu.cfs_quota_us) period=$(cat cpu/cpu.cfs_period_us) mem=$(cat memory/memory.limit_in_bytes) oom=$(cat /proc/self/oom_score_adj)`
	res := func(reqCPU, reqMem, limCPU, limMem string) corev1.ResourceRequirements {
		r := corev1.ResourceRequirements{Requests: corev1.ResourceList{}, Limits: corev1.ResourceList{}}
		for _, q := range []struct {
			list  corev1.ResourceList
			name  corev1.ResourceName
			value string
		}{{r.Requests, corev1.ResourceCPU, reqCPU}, {r.Requests, corev1.ResourceMemory, reqMem}, {r.Limits, corev1.ResourceCPU, limCPU}, {r.Limits, corev1.ResourceMemory, limMem}} {
			if q.value != "" {
				q.list[q.name] = resource.MustParse(q.value)
			}
		}
		return r
	}
	burstable := shPod("burstable", script)
	burstable.Spec.Containers[0].Resources = res("250m", "64Mi", "500m", "128Mi")
	guaranteed := shPod("guaranteed", script)
	guaranteed.Spec.Containers[0].Resources = res("", "", "100m", "32Mi") // requests default to the limits
	besteffort := shPod("besteffort", script)
	logs := c.runOnce(t, ns, burstable, guaranteed, besteffort)

	memTotal := hostMemTotal(t)
	// containerd runs with restrict_oom_score_adj: scores below its own
	// (0 here) are raised to it.
	ownOOM := readInt(t, "/proc/self/oom_score_adj")
	burstOOM := 1000 - 1000*(64<<20)/memTotal
	for _, tc := range []struct {
		pod  string
		qos  corev1.PodQOSClass
		want string
	}{
		{"burstable", corev1.PodQOSBurstable, fmt.Sprintf("shares=256 quota=50000 period=100000 mem=%d oom=%d", 128<<20, max(burstOOM, ownOOM))},
		{"guaranteed", corev1.PodQOSGuaranteed, fmt.Sprintf("shares=102 quota=10000 period=100000 mem=%d oom=%d", 32<<20, max(-997, ownOOM))},
		// No limit: quota -1 and the kernel's unlimited memory value.
		{"besteffort", corev1.PodQOSBestEffort, "shares=2 quota=-1 period=100000 mem=9223372036854771712 oom=1000"},
	} {
		if got := strings.TrimSpace(logs[tc.pod]); got != tc.want {
			t.Errorf("pod %s: cgroup values\n got %s\nwant %s", tc.pod, got, tc.want)
		}
		p := c.waitPod(t, ns, tc.pod, time.Second, "present", func(*corev1.Pod) bool { return true })
		if p.Status.QOSClass != tc.qos {
			t.Errorf("pod %s: qosClass %q, want %q", tc.pod, p.Status.QOSClass, tc.qos)
		}
	}
}

// securityContext: runAsUser/runAsGroup/supplementalGroups (pod level,
// overridden per container), readOnlyRootFilesystem, capabilities added
// and dropped, privileged.
func TestSecurityContext(t *testing.T) {
	c := sharedCluster(t)
	ns := c.namespace(t)

	users := shPod("users", "id; touch /tmp/x 2>/dev/null && echo tmp-writable || echo tmp-denied")
	users.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](1000), RunAsGroup: ptr.To[int64](3000),
		SupplementalGroups: []int64{4000}}
	override := shPod("override", "id")
	override.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsUser: ptr.To[int64](1000), RunAsGroup: ptr.To[int64](3000)}
	override.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{RunAsUser: ptr.To[int64](2000)}

	readonly := shPod("readonly", "touch /newfile 2>/dev/null && echo root-writable || echo root-readonly; touch /scratch/f && echo scratch-writable")
	readonly.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{ReadOnlyRootFilesystem: ptr.To(true)}
	readonly.Spec.Containers[0].VolumeMounts = []corev1.VolumeMount{{Name: "scratch", MountPath: "/scratch"}}
	readonly.Spec.Volumes = []corev1.Volume{{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}}}

	// Each probe says ok or denied; CapEff is the effective set.
	const probes = `touch /tmp/f; chown 1:1 /tmp/f 2>/dev/null && echo chown-ok || echo chown-denied
ping -c 1 -W 1 127.0.0.1 >/dev/null 2>&1 && echo ping-ok || echo ping-denied
ip link set lo mtu 65536 2>/dev/null && echo netadmin-ok || echo netadmin-denied
echo 1 2>/dev/null > /proc/sys/net/ipv4/ip_forward && echo procsys-ok || echo procsys-denied
grep CapEff /proc/self/status`
	plain := shPod("plain", probes)
	caps := shPod("caps", probes)
	caps.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Capabilities: &corev1.Capabilities{
		Add: []corev1.Capability{"NET_ADMIN"}, Drop: []corev1.Capability{"CHOWN", "NET_RAW"}}}
	privileged := shPod("privileged", probes)
	privileged.Spec.Containers[0].SecurityContext = &corev1.SecurityContext{Privileged: ptr.To(true)}

	logs := c.runOnce(t, ns, users, override, readonly, plain, caps, privileged)
	expect := func(pod string, want ...string) {
		t.Helper()
		for _, w := range want {
			if !strings.Contains(logs[pod], w) {
				t.Errorf("pod %s: want %q in its output:\n%s", pod, w, logs[pod])
			}
		}
	}
	expect("users", "uid=1000 gid=3000", "4000", "tmp-writable")
	expect("override", "uid=2000 gid=3000")
	expect("readonly", "root-readonly", "scratch-writable")
	expect("plain", "chown-ok", "ping-ok", "netadmin-denied", "procsys-denied")
	expect("caps", "chown-denied", "ping-denied", "netadmin-ok")
	expect("privileged", "chown-ok", "ping-ok", "netadmin-ok", "procsys-ok")

	// runAsNonRoot with an image that runs as root is refused before start.
	nonroot := shPod("nonroot", "id")
	nonroot.Spec.SecurityContext = &corev1.PodSecurityContext{RunAsNonRoot: ptr.To(true)}
	c.create(t, ns, nonroot)
	c.waitPod(t, ns, "nonroot", time.Minute, "CreateContainerConfigError", func(p *corev1.Pod) bool {
		if len(p.Status.ContainerStatuses) == 0 {
			return false
		}
		w := p.Status.ContainerStatuses[0].State.Waiting
		return w != nil && w.Reason == "CreateContainerConfigError" && strings.Contains(w.Message, "runAsNonRoot")
	})

	const (
		capChown    = 0
		capNetAdmin = 12
		capNetRaw   = 13
		capSysAdmin = 21
	)
	has := func(pod string, bit uint) bool {
		t.Helper()
		_, v, ok := strings.Cut(logs[pod], "CapEff:")
		if !ok {
			t.Fatalf("pod %s printed no CapEff: %s", pod, logs[pod])
		}
		n, err := strconv.ParseUint(strings.TrimSpace(strings.SplitN(v, "\n", 2)[0]), 16, 64)
		if err != nil {
			t.Fatal(err)
		}
		return n&(1<<bit) != 0
	}
	for _, tc := range []struct {
		pod  string
		bit  uint
		want bool
	}{
		{"plain", capChown, true}, {"plain", capNetRaw, true}, {"plain", capNetAdmin, false}, {"plain", capSysAdmin, false},
		{"caps", capChown, false}, {"caps", capNetRaw, false}, {"caps", capNetAdmin, true}, {"caps", capSysAdmin, false},
		{"privileged", capSysAdmin, true}, {"privileged", capNetAdmin, true},
	} {
		if got := has(tc.pod, tc.bit); got != tc.want {
			t.Errorf("pod %s: capability bit %d effective = %v, want %v", tc.pod, tc.bit, got, tc.want)
		}
	}
}

func hostMemTotal(t *testing.T) int64 {
	t.Helper()
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if f := strings.Fields(s.Text()); len(f) >= 2 && f[0] == "MemTotal:" {
			kb, err := strconv.ParseInt(f[1], 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no MemTotal in /proc/meminfo")
	return 0
}

func readInt(t *testing.T, path string) int64 {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return n
}
