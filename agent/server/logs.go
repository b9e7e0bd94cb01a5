package server

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"time"

	"corral/agent/logs"
	"corral/agent/runtime"
)

// serveLogs answers GET /containerLogs/{namespace}/{pod}/{container}.
func (s *Server) serveLogs(w http.ResponseWriter, r *http.Request) {
	opts, previous, err := s.logOptions(r.URL.Query())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	st, ok := s.lookup(w, r)
	if !ok {
		return
	}
	name := r.PathValue("container")
	c, err := logContainer(st, name, previous)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if c.LogPath == "" {
		http.Error(w, fmt.Sprintf("container %q in pod %q has no log file", name, st.Name), http.StatusBadRequest)
		return
	}
	f, err := os.Open(c.LogPath)
	if err != nil {
		http.Error(w, fmt.Sprintf("cannot read the logs of container %q in pod %q: %v", name, st.Name, err), http.StatusBadRequest)
		return
	}
	f.Close()
	if opts.Follow {
		id, ns, pod := c.ID, st.Namespace, st.Name
		opts.KeepFollowing = func() bool { return s.running(r, ns, pod, id) }
	}
	w.Header().Set("Content-Type", "text/plain")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(http.StatusOK)
	out := &flushWriter{w: w, rc: http.NewResponseController(w)}
	if err := logs.Read(r.Context(), c.LogPath, opts, out); err != nil && !errors.Is(err, r.Context().Err()) {
		// The status line is sent; all that is left is to stop.
		fmt.Fprintf(out, "\nerror reading logs: %v\n", err)
	}
}

// running reports whether the container with the given ID still runs.
func (s *Server) running(r *http.Request, namespace, name, id string) bool {
	st, err := s.Pods.LookupPod(r.Context(), namespace, name)
	if err != nil {
		return true // unknown: keep following, the client may stop
	}
	if st == nil {
		return false
	}
	for i := range st.Containers {
		if st.Containers[i].ID == id {
			return st.Containers[i].State == runtime.ContainerRunning || st.Containers[i].State == runtime.ContainerCreated
		}
	}
	return false
}

// logContainer picks the attempt whose logs are wanted, with kubelet's
// messages when there is none.
func logContainer(st *runtime.PodStatus, name string, previous bool) (*runtime.ContainerStatus, error) {
	latest, prev := st.Latest(name)
	if previous {
		if prev == nil {
			return nil, fmt.Errorf("previous terminated container %q in pod %q not found", name, st.Name)
		}
		return prev, nil
	}
	switch {
	case latest == nil:
		return nil, fmt.Errorf("container %q in pod %q is waiting to start: ContainerCreating", name, st.Name)
	case latest.State == runtime.ContainerCreated && prev != nil:
		// Not started yet (restarting): the last run's logs are the news.
		return prev, nil
	case latest.State == runtime.ContainerCreated:
		return nil, fmt.Errorf("container %q in pod %q is waiting to start: ContainerCreating", name, st.Name)
	}
	return latest, nil
}

// logOptions parses kubelet's query parameters.
func (s *Server) logOptions(q url.Values) (logs.Options, bool, error) {
	opts := logs.Options{Clock: s.Clock, PollInterval: s.LogPollInterval}
	var err error
	boolParam := func(name string) bool {
		v := q.Get(name)
		if v == "" || err != nil {
			return false
		}
		b, perr := strconv.ParseBool(v)
		if perr != nil {
			err = fmt.Errorf("%s: %q is not a boolean", name, v)
		}
		return b
	}
	intParam := func(name string, min int64) *int64 {
		v := q.Get(name)
		if v == "" || err != nil {
			return nil
		}
		n, perr := strconv.ParseInt(v, 10, 64)
		if perr != nil || n < min {
			err = fmt.Errorf("%s: %q must be an integer of at least %d", name, v, min)
			return nil
		}
		return &n
	}
	opts.Follow = boolParam("follow")
	previous := boolParam("previous")
	opts.Timestamps = boolParam("timestamps")
	opts.TailLines = intParam("tailLines", 0)
	opts.LimitBytes = intParam("limitBytes", 1)
	since := intParam("sinceSeconds", 1)
	if err != nil {
		return opts, false, err
	}
	now := time.Now()
	if s.Clock != nil {
		now = s.Clock.Now()
	}
	if v := q.Get("sinceTime"); v != "" {
		if since != nil {
			return opts, false, errors.New("at most one of sinceTime or sinceSeconds may be specified")
		}
		t, perr := time.Parse(time.RFC3339, v)
		if perr != nil {
			return opts, false, fmt.Errorf("sinceTime: %q is not an RFC3339 time", v)
		}
		opts.Since = t
	} else if since != nil {
		opts.Since = now.Add(-time.Duration(*since) * time.Second)
	}
	switch v := q.Get("stream"); v {
	case "", "All":
	case "Stdout":
		opts.Stream = logs.Stdout
	case "Stderr":
		opts.Stream = logs.Stderr
	default:
		return opts, false, fmt.Errorf("stream: %q is not one of All, Stdout, Stderr", v)
	}
	return opts, previous, nil
}

// flushWriter sends every write at once, so followed logs flow.
type flushWriter struct {
	w  http.ResponseWriter
	rc *http.ResponseController
}

func (f *flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if err == nil {
		err = f.rc.Flush()
	}
	return n, err
}
