package server

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	upgradeproxy "k8s.io/apimachinery/pkg/util/proxy"

	"corral/agent/runtime"
)

// streamFlags are the stream choices of exec and attach, "1" or "true"
// meaning on, as the API server and kubelet spell them.
type streamFlags struct{ stdin, stdout, stderr, tty bool }

func parseStreamFlags(q url.Values) (streamFlags, error) {
	on := func(name string) bool {
		b, _ := strconv.ParseBool(q.Get(name))
		return b
	}
	f := streamFlags{stdin: on("input") || on("stdin"), stdout: on("output") || on("stdout"), stderr: on("error") || on("stderr"), tty: on("tty")}
	if f.tty {
		// A terminal merges stderr into stdout.
		f.stderr = false
	}
	if !f.stdin && !f.stdout && !f.stderr {
		return f, fmt.Errorf("you must specify at least 1 of stdin, stdout, stderr")
	}
	return f, nil
}

// runningContainer finds the running attempt of the named container.
func (s *Server) runningContainer(w http.ResponseWriter, r *http.Request) (*runtime.ContainerStatus, bool) {
	st, ok := s.lookup(w, r)
	if !ok {
		return nil, false
	}
	name := r.PathValue("container")
	latest, _ := st.Latest(name)
	if latest == nil || latest.State != runtime.ContainerRunning {
		http.Error(w, fmt.Sprintf("container not found (%q)", name), http.StatusNotFound)
		return nil, false
	}
	return latest, true
}

func (s *Server) serveExec(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	flags, err := parseStreamFlags(q)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	cmd := q["command"]
	if len(cmd) == 0 {
		http.Error(w, "you must specify at least one command for the container", http.StatusBadRequest)
		return
	}
	c, ok := s.runningContainer(w, r)
	if !ok {
		return
	}
	u, err := s.Streamer.Exec(r.Context(), c.ID, cmd, flags.tty, flags.stdin, flags.stdout, flags.stderr)
	s.proxy(w, r, u, err)
}

func (s *Server) serveAttach(w http.ResponseWriter, r *http.Request) {
	flags, err := parseStreamFlags(r.URL.Query())
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	c, ok := s.runningContainer(w, r)
	if !ok {
		return
	}
	u, err := s.Streamer.Attach(r.Context(), c.ID, flags.tty, flags.stdin, flags.stdout, flags.stderr)
	s.proxy(w, r, u, err)
}

func (s *Server) servePortForward(w http.ResponseWriter, r *http.Request) {
	var ports []int32
	for _, v := range r.URL.Query()["port"] {
		p, err := strconv.ParseUint(v, 10, 16)
		if err != nil || p == 0 {
			http.Error(w, fmt.Sprintf("port %q is not a valid port number", v), http.StatusBadRequest)
			return
		}
		ports = append(ports, int32(p))
	}
	st, ok := s.lookup(w, r)
	if !ok {
		return
	}
	if !st.SandboxReady {
		http.Error(w, fmt.Sprintf("pod %q has no running sandbox", st.Name), http.StatusBadRequest)
		return
	}
	u, err := s.Streamer.PortForward(r.Context(), st.UID, ports)
	s.proxy(w, r, u, err)
}

// proxy hands the client's upgrade on to the runtime's streaming URL
// (containerd serves it over plain HTTP on loopback). The runtime's own
// refusals reach the client as they are.
func (s *Server) proxy(w http.ResponseWriter, r *http.Request, streamURL string, err error) {
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	target, err := url.Parse(streamURL)
	if err != nil || target.Host == "" {
		http.Error(w, fmt.Sprintf("runtime returned a bad streaming URL %q", streamURL), http.StatusInternalServerError)
		return
	}
	h := upgradeproxy.NewUpgradeAwareHandler(target, nil, false, true, errorResponder{})
	h.UseLocationHost = true
	h.ServeHTTP(w, r)
}

// errorResponder answers with the error's API status code, or 502 for
// failures to reach the runtime.
type errorResponder struct{}

func (errorResponder) Error(w http.ResponseWriter, _ *http.Request, err error) {
	code := http.StatusBadGateway
	var status apierrors.APIStatus
	if errors.As(err, &status) {
		code = int(status.Status().Code)
	}
	http.Error(w, err.Error(), code)
}
