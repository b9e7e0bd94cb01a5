package stats

import (
	"context"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/klog/v2"
	"k8s.io/utils/clock"
)

// Source reads cumulative usage; the CRI runtime is one (agent/runtime/cri).
type Source interface {
	Read(ctx context.Context) (*Reading, error)
}

// Reading is one observation of the node and its running pods.
type Reading struct {
	Node NodeReading
	Pods []PodReading
}

// CPUPoint is cumulative CPU time at an instant.
type CPUPoint struct {
	Time                 time.Time
	UsageCoreNanoSeconds uint64
}

// NodeReading is the machine's usage; Fs, ImageFs and Rlimit are passed
// on to the summary as they are (nil when not read).
type NodeReading struct {
	CPU     *CPUPoint
	Memory  *MemoryStats
	Fs      *FsStats
	ImageFs *FsStats
	Rlimit  *RlimitStats
}

// PodReading is one running pod. CPU and Memory are the pod cgroup's,
// nil when the runtime does not report them (then the containers' are
// summed).
type PodReading struct {
	Ref        PodReference
	StartTime  time.Time
	CPU        *CPUPoint
	Memory     *MemoryStats
	Containers []ContainerReading
}

// ContainerReading is one running container.
type ContainerReading struct {
	ID, Name  string
	StartTime time.Time
	CPU       *CPUPoint
	Memory    *MemoryStats
}

// DefaultPeriod is how often the sampler reads, as cAdvisor's housekeeping
// does; CPU rates are measured over one period.
const DefaultPeriod = 10 * time.Second

// Options configure a Sampler.
type Options struct {
	NodeName string
	Source   Source
	// Clock paces the samples (default real).
	Clock clock.WithTicker
	// Period between samples (default DefaultPeriod).
	Period time.Duration
	// OnSample, when set, is given each new summary (not to be changed),
	// outside the sampler's lock: the agent judges node pressure from it.
	OnSample func(*Summary)
}

// Sampler reads the Source every period and keeps the latest Summary,
// with CPU rates from the difference to the sample before.
type Sampler struct {
	opts Options

	mu       sync.Mutex
	prev     map[string]CPUPoint // by "node", "pod/<uid>", "container/<id>"
	summary  *Summary
	sampled  time.Time
	err      error
	duration time.Duration // of the latest Read
}

// NewSampler makes a sampler; nothing is read until Run or Sample.
func NewSampler(opts Options) *Sampler {
	if opts.Clock == nil {
		opts.Clock = clock.RealClock{}
	}
	if opts.Period <= 0 {
		opts.Period = DefaultPeriod
	}
	return &Sampler{opts: opts, prev: map[string]CPUPoint{}}
}

// Run samples now and then every period until ctx ends.
func (s *Sampler) Run(ctx context.Context) {
	logger := klog.FromContext(ctx)
	t := s.opts.Clock.NewTicker(s.opts.Period)
	defer t.Stop()
	var lastErr string
	for {
		err := s.Sample(ctx)
		switch {
		case err != nil && err.Error() != lastErr && ctx.Err() == nil:
			logger.Error(err, "reading resource usage")
			lastErr = err.Error()
		case err == nil:
			lastErr = ""
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
	}
}

// Sample reads the source once and computes the new summary. On error
// the previous summary stays, and the error is reported with it.
func (s *Sampler) Sample(ctx context.Context) error {
	start := s.opts.Clock.Now()
	r, err := s.opts.Source.Read(ctx)
	took := s.opts.Clock.Since(start)
	sum, err := s.update(r, err, took)
	if err == nil && s.opts.OnSample != nil {
		s.opts.OnSample(sum)
	}
	return err
}

// update records a read and computes its summary.
func (s *Sampler) update(r *Reading, err error, took time.Duration) (*Summary, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.duration, s.err = took, err
	if err != nil {
		return nil, err
	}
	next := make(map[string]CPUPoint, len(s.prev))
	sum := &Summary{Node: NodeStats{NodeName: s.opts.NodeName,
		CPU: s.cpu("node", r.Node.CPU, next), Memory: r.Node.Memory, Fs: r.Node.Fs, Rlimit: r.Node.Rlimit}}
	if r.Node.ImageFs != nil {
		sum.Node.Runtime = &RuntimeStats{ImageFs: r.Node.ImageFs}
	}
	sum.Pods = make([]PodStats, 0, len(r.Pods))
	for _, p := range r.Pods {
		ps := PodStats{PodRef: p.Ref, StartTime: p.StartTime, Containers: make([]ContainerStats, 0, len(p.Containers))}
		for _, c := range p.Containers {
			ps.Containers = append(ps.Containers, ContainerStats{Name: c.Name, ID: c.ID, StartTime: c.StartTime,
				CPU: s.cpu("container/"+c.ID, c.CPU, next), Memory: c.Memory})
		}
		if p.CPU != nil {
			ps.CPU = s.cpu("pod/"+p.Ref.UID, p.CPU, next)
		} else {
			ps.CPU = sumCPU(ps.Containers)
		}
		ps.Memory = p.Memory
		if ps.Memory == nil {
			ps.Memory = sumMemory(ps.Containers)
		}
		sum.Pods = append(sum.Pods, ps)
	}
	// Points not seen again (stopped containers, gone pods) are dropped.
	s.prev, s.summary, s.sampled = next, sum, s.opts.Clock.Now()
	return sum, nil
}

// cpu records point under key and returns its stats, with the rate
// since the previous point of key when there is a usable one.
func (s *Sampler) cpu(key string, point *CPUPoint, next map[string]CPUPoint) *CPUStats {
	if point == nil {
		return nil
	}
	usage := point.UsageCoreNanoSeconds
	out := &CPUStats{Time: point.Time, UsageCoreNanoSeconds: &usage}
	prev, ok := s.prev[key]
	switch {
	case !ok || usage < prev.UsageCoreNanoSeconds:
		// New, or the counter went back (a new cgroup): start over.
		next[key] = *point
	case !point.Time.After(prev.Time):
		// The runtime served the same sample again: keep the older
		// point, so the next sample has a window.
		next[key] = prev
	default:
		next[key] = *point
		window := point.Time.Sub(prev.Time)
		rate := uint64(float64(usage-prev.UsageCoreNanoSeconds) / window.Seconds())
		out.UsageNanoCores = &rate
		out.Window = &metav1.Duration{Duration: window}
	}
	return out
}

// sumCPU adds up the containers' CPU; the rate only when every container
// has one.
func sumCPU(cs []ContainerStats) *CPUStats {
	var out *CPUStats
	rates := true
	var rate, usage uint64
	var window time.Duration
	for _, c := range cs {
		if c.CPU == nil {
			continue
		}
		if out == nil {
			out = &CPUStats{}
		}
		if c.CPU.Time.After(out.Time) {
			out.Time = c.CPU.Time
		}
		if c.CPU.UsageCoreNanoSeconds != nil {
			usage += *c.CPU.UsageCoreNanoSeconds
		}
		if c.CPU.UsageNanoCores == nil {
			rates = false
			continue
		}
		rate += *c.CPU.UsageNanoCores
		window = max(window, c.CPU.Window.Duration)
	}
	if out == nil {
		return nil
	}
	out.UsageCoreNanoSeconds = &usage
	if rates {
		out.UsageNanoCores = &rate
		out.Window = &metav1.Duration{Duration: window}
	}
	return out
}

// sumMemory adds up the containers' memory figures.
func sumMemory(cs []ContainerStats) *MemoryStats {
	var out *MemoryStats
	add := func(dst **uint64, v *uint64) {
		if v == nil {
			return
		}
		if *dst == nil {
			*dst = new(uint64)
		}
		**dst += *v
	}
	for _, c := range cs {
		if c.Memory == nil {
			continue
		}
		if out == nil {
			out = &MemoryStats{}
		}
		if c.Memory.Time.After(out.Time) {
			out.Time = c.Memory.Time
		}
		add(&out.UsageBytes, c.Memory.UsageBytes)
		add(&out.WorkingSetBytes, c.Memory.WorkingSetBytes)
		add(&out.RSSBytes, c.Memory.RSSBytes)
	}
	return out
}

// Summary returns the latest summary (nil before the first good sample;
// callers must not change it), when it was taken, and the latest error.
func (s *Sampler) Summary() (*Summary, time.Time, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.summary, s.sampled, s.err
}

// lastRead is the latest Read's duration and error, for /metrics.
func (s *Sampler) lastRead() (time.Duration, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.duration, s.err
}
