package host

import (
	"corral/agent"
	"corral/agent/stats"
)

// pressureSignals are the eviction signals of a stats summary, read as
// kubelet's eviction manager reads its own: memory.available is the
// capacity less the working set (the summary's availableBytes), nodefs the
// agent's data dir, imagefs the runtime's image store, pid.available the
// task limit less the tasks that exist. What the summary lacks stays nil.
func pressureSignals(sum *stats.Summary) agent.Signals {
	var s agent.Signals
	if m := sum.Node.Memory; m != nil && m.AvailableBytes != nil && m.WorkingSetBytes != nil {
		s.Memory = &agent.Amount{Available: int64(*m.AvailableBytes), Capacity: int64(*m.AvailableBytes + *m.WorkingSetBytes)}
	}
	s.NodeFs, s.NodeFsInodes = fsSignals(sum.Node.Fs)
	if sum.Node.Runtime != nil {
		s.ImageFs, s.ImageFsInodes = fsSignals(sum.Node.Runtime.ImageFs)
	}
	if r := sum.Node.Rlimit; r != nil && r.MaxPID != nil && r.NumOfRunningProcesses != nil {
		s.PID = &agent.Amount{Available: *r.MaxPID - *r.NumOfRunningProcesses, Capacity: *r.MaxPID}
	}
	return s
}

// fsSignals are a file system's available bytes and free inodes.
func fsSignals(fs *stats.FsStats) (space, inodes *agent.Amount) {
	if fs == nil {
		return nil, nil
	}
	if fs.AvailableBytes != nil && fs.CapacityBytes != nil {
		space = &agent.Amount{Available: int64(*fs.AvailableBytes), Capacity: int64(*fs.CapacityBytes)}
	}
	if fs.InodesFree != nil && fs.Inodes != nil {
		inodes = &agent.Amount{Available: int64(*fs.InodesFree), Capacity: int64(*fs.Inodes)}
	}
	return space, inodes
}
