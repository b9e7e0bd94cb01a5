// Package simulated is a container runtime that runs nothing: containers
// are records whose state is a pure function of the clock. Thousands of
// simulated nodes fit in one process because nothing runs per container,
// no goroutine and no timer: each status says when it will next change
// (runtime.PodStatus.RecheckAt) and the agent's single delaying queue
// syncs the pod then.
//
// Behaviour is steered per pod by annotations (read when a container
// starts, so editing them affects the next restart):
//
//	sim.corral.dev/start-delay: 2s      created -> running delay (default: the runtime's, --sim-start-delay)
//	sim.corral.dev/crash-after: 5s      app containers exit after running 5s (exit code 1 unless set below)
//	sim.corral.dev/run-for: 30s         app containers finish after 30s (exit code 0 unless set below);
//	                                    default for restartPolicy Never/OnFailure: the runtime's job
//	                                    duration (1s); with Always: run forever
//	sim.corral.dev/exit-code: "3"       exit code for crash-after/run-for
//	sim.corral.dev/fail-readiness: "true"  containers never become ready
//	sim.corral.dev/ready-after: 10s     containers become ready 10s after starting
//	sim.corral.dev/init-run-for: 1s     how long each init container runs (default 0, exit code 0)
//
// A node's pressure conditions are steered by the node annotation
// sim.corral.dev/pressure (memory,disk,pid), which the agent reads
// (agent.AnnotationSimPressure).
//
// Pod IPs come from the node's spec.podCIDR once the agent passes it on
// (UpdatePodCIDR), else from a synthetic range given at construction.
package simulated
