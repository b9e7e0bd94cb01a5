package main

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// startupReport is what one pod-startup run measured.
type startupReport struct {
	runtime                   string
	o                         startupOptions
	corralSerial, corralBurst []*podTimes
	floorSerial, floorBurst   []*floorPod
	// [0] idle, [1] with o.rssPods pods running; MB
	serverRSS, serverCtrdRSS, agentRSS, agentCtrdRSS [2]float64
	hasAgent                                         bool
	loadBefore                                       string // 1-minute load average before the run
}

func corralLatencies(ps []*podTimes) []time.Duration {
	out := make([]time.Duration, len(ps))
	for i, p := range ps {
		out[i] = p.latency()
	}
	return out
}

func floorLatencies(ps []*floorPod) []time.Duration {
	out := make([]time.Duration, len(ps))
	for i, p := range ps {
		out[i] = p.latency()
	}
	return out
}

func median[T any](ps []T, f func(T) time.Duration) string {
	if len(ps) == 0 {
		return "—"
	}
	d := make([]time.Duration, len(ps))
	for i, p := range ps {
		d[i] = f(p)
	}
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return ms(d[len(d)/2])
}

func (s *startupReport) markdown() string {
	var b strings.Builder
	b.WriteString("| mode | corral p50 | corral p99 | floor p50 | floor p99 | corral/floor p50 | corral/floor p99 |\n|---|---|---|---|---|---|---|\n")
	row := func(what string, c, f []time.Duration) (p99, fp99 time.Duration) {
		c50, c99 := percentiles(c)
		f50, f99 := percentiles(f)
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %.2f | %.2f |\n", what, ms(c50), ms(c99), ms(f50), ms(f99),
			c50.Seconds()/f50.Seconds(), c99.Seconds()/f99.Seconds())
		return c99, f99
	}
	s99, sf99 := row(fmt.Sprintf("one at a time (%d pods; each waited for, earlier ones keep running)", len(s.corralSerial)),
		corralLatencies(s.corralSerial), floorLatencies(s.floorSerial))
	b99, bf99 := row(fmt.Sprintf("%d at once (%d bursts, %d pods; deleted between bursts)", s.o.burst, len(s.corralBurst)/s.o.burst, len(s.corralBurst)),
		corralLatencies(s.corralBurst), floorLatencies(s.floorBurst))
	verdict := func(ok bool) string {
		if ok {
			return "met"
		}
		return "not met"
	}
	fmt.Fprintf(&b, "\nUpstream's SLO, p99 ≤ 5 s: %s one at a time, %s at once. corral's aim, p99 within 1.3× the floor: %s one at a time (%.2f×), %s at once (%.2f×).\n",
		verdict(s99 <= 5*time.Second), verdict(b99 <= 5*time.Second),
		verdict(s99.Seconds() <= 1.3*sf99.Seconds()), s99.Seconds()/sf99.Seconds(),
		verdict(b99.Seconds() <= 1.3*bf99.Seconds()), b99.Seconds()/bf99.Seconds())

	fmt.Fprintf(&b, "\n1-minute load average just before the run: %s (other work on the machine shows here).\n", s.loadBefore)
	b.WriteString("\nWhere the time goes: medians of each step over the same pods (medians need not add up to the total). Runtime steps\n" +
		"are containerd's own timestamps. containerd 1.6 stamps a sandbox as soon as RunPodSandbox records it, before CNI ADD and\n" +
		"the pause task (the floor's RunPodSandbox call → sandbox row shows how soon), so corral's scheduled → sandbox step is the\n" +
		"agent's own reaction (watch delivery, volume set-up, sandbox config), and sandbox → container created holds CNI ADD,\n" +
		"the pause task and CreateContainer for both.\n\n")
	b.WriteString("| step | corral, one at a time | corral, at once | floor, one at a time | floor, at once |\n|---|---|---|---|---|\n")
	steps := []struct {
		what string
		c    func(*podTimes) time.Duration
		f    func(*floorPod) time.Duration
	}{
		{"create call → watch sees the pod scheduled", func(p *podTimes) time.Duration { return p.scheduled.Sub(p.created) }, nil},
		{"corral: scheduled (watch) → sandbox stamped; floor: RunPodSandbox call → sandbox stamped",
			func(p *podTimes) time.Duration { return p.sandbox.Sub(p.scheduled) }, func(p *floorPod) time.Duration { return p.sandboxAt.Sub(p.t0) }},
		{"sandbox stamped → container created", func(p *podTimes) time.Duration { return p.ctrCreated.Sub(p.sandbox) },
			func(p *floorPod) time.Duration { return p.created.Sub(p.sandboxAt) }},
		{"container created → started", func(p *podTimes) time.Duration { return p.ctrStarted.Sub(p.ctrCreated) },
			func(p *floorPod) time.Duration { return p.started.Sub(p.created) }},
		{"started → watch sees phase Running", func(p *podTimes) time.Duration { return p.running.Sub(p.ctrStarted) }, nil},
		{"total", (*podTimes).latency, (*floorPod).latency},
	}
	for _, st := range steps {
		fs, fb := "—", "—" // corral-only steps
		if st.f != nil {
			fs, fb = median(s.floorSerial, st.f), median(s.floorBurst, st.f)
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s |\n", st.what, median(s.corralSerial, st.c), median(s.corralBurst, st.c), fs, fb)
	}

	fmt.Fprintf(&b, "\n| process (RSS) | idle, 0 pods | %d pods running |\n|---|---|---|\n", s.o.rssPods)
	rss := func(what string, v [2]float64) {
		fmt.Fprintf(&b, "| %s | %.1f MB | %.1f MB |\n", what, v[0], v[1])
	}
	rss("`corral server` (API server, etcd, controllers, scheduler and node agent in one process)", s.serverRSS)
	rss("its containerd", s.serverCtrdRSS)
	if s.hasAgent {
		rss("standalone `corral agent` (joined to that server; own data dir, containerd, bridge)", s.agentRSS)
		rss("its containerd", s.agentCtrdRSS)
	}
	b.WriteString("\nThe control plane alone (`corral server --disable-agent`) is in the API server section above.\n")
	return b.String()
}
