package host

import (
	"testing"

	"corral/agent"
	"corral/agent/stats"
)

func TestPressureSignals(t *testing.T) {
	u := func(v uint64) *uint64 { return &v }
	i := func(v int64) *int64 { return &v }
	amt := func(a, c int64) *agent.Amount { return &agent.Amount{Available: a, Capacity: c} }
	for _, tc := range []struct {
		name string
		node stats.NodeStats
		want agent.Signals
		p    agent.Pressure // under the default thresholds
	}{
		{name: "nothing read"},
		{name: "healthy host",
			node: stats.NodeStats{
				Memory: &stats.MemoryStats{AvailableBytes: u(6 << 30), WorkingSetBytes: u(2 << 30)},
				Fs:     &stats.FsStats{AvailableBytes: u(40), CapacityBytes: u(100), InodesFree: u(900), Inodes: u(1000)},
				Runtime: &stats.RuntimeStats{ImageFs: &stats.FsStats{AvailableBytes: u(40), CapacityBytes: u(100),
					InodesFree: u(900), Inodes: u(1000)}},
				Rlimit: &stats.RlimitStats{MaxPID: i(32768), NumOfRunningProcesses: i(231)},
			},
			want: agent.Signals{Memory: amt(6<<30, 8<<30), NodeFs: amt(40, 100), NodeFsInodes: amt(900, 1000),
				ImageFs: amt(40, 100), ImageFsInodes: amt(900, 1000), PID: amt(32768-231, 32768)}},
		{name: "memory below 100Mi of capacity less working set",
			node: stats.NodeStats{Memory: &stats.MemoryStats{AvailableBytes: u(99 << 20), WorkingSetBytes: u(8 << 30)}},
			want: agent.Signals{Memory: amt(99<<20, 8<<30+99<<20)}, p: agent.Pressure{Memory: true}},
		{name: "image fs at 14% is disk pressure",
			node: stats.NodeStats{Runtime: &stats.RuntimeStats{ImageFs: &stats.FsStats{AvailableBytes: u(14), CapacityBytes: u(100)}}},
			want: agent.Signals{ImageFs: amt(14, 100)}, p: agent.Pressure{Disk: true}},
		{name: "node fs out of inodes",
			node: stats.NodeStats{Fs: &stats.FsStats{InodesFree: u(4), Inodes: u(100)}},
			want: agent.Signals{NodeFsInodes: amt(4, 100)}, p: agent.Pressure{Disk: true}},
		{name: "tasks near the limit",
			node: stats.NodeStats{Rlimit: &stats.RlimitStats{MaxPID: i(1000), NumOfRunningProcesses: i(950)}},
			want: agent.Signals{PID: amt(50, 1000)}, p: agent.Pressure{PID: true}},
		{name: "half a memory reading is none",
			node: stats.NodeStats{Memory: &stats.MemoryStats{WorkingSetBytes: u(1)}, Rlimit: &stats.RlimitStats{MaxPID: i(5)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := pressureSignals(&stats.Summary{Node: tc.node})
			for name, pair := range map[string][2]*agent.Amount{"memory": {got.Memory, tc.want.Memory},
				"nodefs": {got.NodeFs, tc.want.NodeFs}, "nodefs inodes": {got.NodeFsInodes, tc.want.NodeFsInodes},
				"imagefs": {got.ImageFs, tc.want.ImageFs}, "imagefs inodes": {got.ImageFsInodes, tc.want.ImageFsInodes},
				"pid": {got.PID, tc.want.PID}} {
				if (pair[0] == nil) != (pair[1] == nil) || (pair[0] != nil && *pair[0] != *pair[1]) {
					t.Errorf("%s: %+v, want %+v", name, pair[0], pair[1])
				}
			}
			if p := agent.DefaultThresholds().Evaluate(got); p != tc.p {
				t.Errorf("pressure %+v, want %+v", p, tc.p)
			}
		})
	}
}
