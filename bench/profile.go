package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"k8s.io/client-go/kubernetes"
)

// profileDir, when set (-profile-dir), receives the server's CPU profiles
// taken in consecutive 10 s windows during each measured phase, and a
// heap profile at the end of it: name-cpu-N.pprof, name-heap.pprof.
// Merge the windows with `go tool pprof -proto name-cpu-*.pprof`.
var profileDir string

// profilePhase starts profiling srv for the phase name; the returned
// function stops it and writes the heap profile. Without -profile-dir it
// does nothing.
func profilePhase(ctx context.Context, srv *benchServer, name string) func() {
	if profileDir == "" {
		return func() {}
	}
	c := kubernetes.NewForConfigOrDie(srv.config).Discovery().RESTClient()
	pctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; pctx.Err() == nil; i++ {
			body, err := c.Get().AbsPath("/debug/pprof/profile").Param("seconds", "10").DoRaw(pctx)
			if err != nil {
				return // cancelled: the window in flight is dropped
			}
			save(name, fmt.Sprintf("cpu-%d", i), body)
		}
	}()
	return func() {
		cancel()
		wg.Wait()
		if body, err := c.Get().AbsPath("/debug/pprof/heap").DoRaw(ctx); err == nil {
			save(name, "heap", body)
		}
	}
}

func save(phase, kind string, body []byte) {
	path := filepath.Join(profileDir, phase+"-"+kind+".pprof")
	if err := os.WriteFile(path, body, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "bench: profile:", err)
	}
}
