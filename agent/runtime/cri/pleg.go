package cri

import (
	"context"

	"k8s.io/apimachinery/pkg/types"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"
	"k8s.io/klog/v2"
)

// plegEntry is one sandbox or container as last listed.
type plegEntry struct {
	uid   types.UID
	state int32
}

// pleg relists sandboxes and containers every RelistPeriod and calls the
// change handler with each pod whose sandboxes or containers appeared,
// vanished or changed state since the last relist (the first compares
// with last). containerd 1.6 has no container events.
func (r *Runtime) pleg(ctx context.Context, last map[string]plegEntry) {
	defer close(r.done)
	defer r.conn.Close()
	logger := klog.FromContext(ctx).WithName("pleg")
	t := r.opts.Clock.NewTicker(r.opts.RelistPeriod)
	defer t.Stop()
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		cur, err := r.relist(ctx)
		if err != nil {
			if !failing && ctx.Err() == nil {
				logger.Error(err, "relisting the runtime failed; retrying every period")
			}
			failing = true
			continue
		}
		if failing {
			logger.Info("relisting the runtime works again")
			failing = false
		}
		r.notify(changed(last, cur))
		last = cur
		r.pruneExited(cur)
	}
}

func (r *Runtime) relist(ctx context.Context) (map[string]plegEntry, error) {
	cctx, cancel := r.call(ctx)
	defer cancel()
	sresp, err := r.rt.ListPodSandbox(cctx, &runtimeapi.ListPodSandboxRequest{})
	if err != nil {
		return nil, err
	}
	cresp, err := r.rt.ListContainers(cctx, &runtimeapi.ListContainersRequest{})
	if err != nil {
		return nil, err
	}
	cur := make(map[string]plegEntry, len(sresp.Items)+len(cresp.Containers))
	for _, s := range sresp.Items {
		if uid := s.Labels[LabelPodUID]; uid != "" {
			cur["s/"+s.Id] = plegEntry{types.UID(uid), int32(s.State)}
		}
	}
	for _, c := range cresp.Containers {
		if uid := c.Labels[LabelPodUID]; uid != "" {
			cur["c/"+c.Id] = plegEntry{types.UID(uid), int32(c.State)}
		}
	}
	return cur, nil
}

// changed lists the pods with an entry added, removed or changed.
func changed(last, cur map[string]plegEntry) []types.UID {
	seen := map[types.UID]bool{}
	var out []types.UID
	add := func(uid types.UID) {
		if !seen[uid] {
			seen[uid] = true
			out = append(out, uid)
		}
	}
	for id, e := range cur {
		if old, ok := last[id]; !ok || old.state != e.state {
			add(e.uid)
		}
	}
	for id, e := range last {
		if _, ok := cur[id]; !ok {
			add(e.uid)
		}
	}
	return out
}

func (r *Runtime) notify(uids []types.UID) {
	r.mu.Lock()
	fn := r.handler
	r.mu.Unlock()
	if fn == nil {
		return
	}
	for _, uid := range uids {
		fn(uid)
	}
}

// pruneExited forgets cached statuses of containers that are gone.
func (r *Runtime) pruneExited(cur map[string]plegEntry) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for id := range r.exited {
		if _, ok := cur["c/"+id]; !ok {
			delete(r.exited, id)
		}
	}
}
