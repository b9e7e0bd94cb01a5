package stats

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Summary is a node's resource usage at its latest sample. The JSON field
// names follow kubelet's stats/v1alpha1 Summary; each CPU figure also
// carries the window its rate was measured over.
type Summary struct {
	Node NodeStats  `json:"node"`
	Pods []PodStats `json:"pods"`
}

// NodeStats is the whole machine's usage. Fs is the file system of the
// agent's data directory (kubelet's nodefs), Runtime.ImageFs the one
// holding the runtime's images; with Rlimit they are kubelet's eviction
// signals.
type NodeStats struct {
	NodeName string        `json:"nodeName"`
	CPU      *CPUStats     `json:"cpu,omitempty"`
	Memory   *MemoryStats  `json:"memory,omitempty"`
	Fs       *FsStats      `json:"fs,omitempty"`
	Runtime  *RuntimeStats `json:"runtime,omitempty"`
	Rlimit   *RlimitStats  `json:"rlimit,omitempty"`
}

// FsStats is one file system's space and inodes.
type FsStats struct {
	Time           time.Time `json:"time"`
	AvailableBytes *uint64   `json:"availableBytes,omitempty"`
	CapacityBytes  *uint64   `json:"capacityBytes,omitempty"`
	UsedBytes      *uint64   `json:"usedBytes,omitempty"`
	InodesFree     *uint64   `json:"inodesFree,omitempty"`
	Inodes         *uint64   `json:"inodes,omitempty"`
	InodesUsed     *uint64   `json:"inodesUsed,omitempty"`
}

// RuntimeStats is the container runtime's storage.
type RuntimeStats struct {
	ImageFs *FsStats `json:"imageFs,omitempty"`
}

// RlimitStats: MaxPID is the system-wide task limit (the lower of
// kernel.pid_max and kernel.threads-max), NumOfRunningProcesses the tasks
// (processes and threads) that exist now.
type RlimitStats struct {
	Time                  time.Time `json:"time"`
	MaxPID                *int64    `json:"maxpid,omitempty"`
	NumOfRunningProcesses *int64    `json:"curproc,omitempty"`
}

// PodReference names a pod.
type PodReference struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	UID       string `json:"uid"`
}

// PodStats is one running pod: its sandbox's (pod cgroup's) usage when the
// runtime reports it, else the sum of its containers'.
type PodStats struct {
	PodRef     PodReference     `json:"podRef"`
	StartTime  time.Time        `json:"startTime"`
	Containers []ContainerStats `json:"containers"`
	CPU        *CPUStats        `json:"cpu,omitempty"`
	Memory     *MemoryStats     `json:"memory,omitempty"`
}

// ContainerStats is one running container.
type ContainerStats struct {
	Name      string       `json:"name"`
	ID        string       `json:"id,omitempty"`
	StartTime time.Time    `json:"startTime"`
	CPU       *CPUStats    `json:"cpu,omitempty"`
	Memory    *MemoryStats `json:"memory,omitempty"`
}

// CPUStats: UsageCoreNanoSeconds is cumulative; UsageNanoCores is the
// rate over [Time-Window, Time], absent until two samples exist.
type CPUStats struct {
	Time                 time.Time        `json:"time"`
	Window               *metav1.Duration `json:"window,omitempty"`
	UsageNanoCores       *uint64          `json:"usageNanoCores,omitempty"`
	UsageCoreNanoSeconds *uint64          `json:"usageCoreNanoSeconds,omitempty"`
}

// MemoryStats: WorkingSetBytes is what kubectl top and eviction use
// (usage minus inactive file pages).
type MemoryStats struct {
	Time            time.Time `json:"time"`
	AvailableBytes  *uint64   `json:"availableBytes,omitempty"`
	UsageBytes      *uint64   `json:"usageBytes,omitempty"`
	WorkingSetBytes *uint64   `json:"workingSetBytes,omitempty"`
	RSSBytes        *uint64   `json:"rssBytes,omitempty"`
}
