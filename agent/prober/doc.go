// Package prober runs containers' startup, readiness and liveness probes
// for the node agent on real runtimes, as kubelet does.
//
// The agent hands every pod sync's runtime status to Manager.Update; the
// manager keeps one worker goroutine per running container attempt and
// probe type, and stops it when the attempt exits, is replaced, or the pod
// goes (Remove). A worker probes first at the container's start time plus
// initialDelaySeconds, then every periodSeconds, each probe bounded by
// timeoutSeconds; a result is only adopted after successThreshold
// consecutive successes or failureThreshold consecutive failures.
// Readiness and liveness wait until the startup probe (if any) succeeded.
//
// The agent reads the adopted results: Ready and Started feed the
// container statuses; Liveness (and LivenessFailure for message and grace)
// tells it to stop the container, after which its restart policy applies.
// The results are polled, not pushed, so they fit the agent's level-based
// sync: Options.OnChange(uid) only says "sync this pod again".
//
// Handlers: exec (through runtime.Execer), httpGet, tcpSocket and grpc
// (grpc.health.v1). Time comes from the injected clock so tests step it.
package prober
