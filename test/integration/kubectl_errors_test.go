package integration

import (
	"strings"
	"testing"
	"time"
)

// kcDeleteCascade deletes a deployment that owns a configmap with each
// propagation policy. The garbage collector may not be wired yet: the
// immediate effects (deletionTimestamp, finalizer) are always asserted; the
// end state is skipped when the finalizer is still there after 20 s.
func kcDeleteCascade(k *kctl) {
	modes := []string{"orphan", "foreground", "background"}
	for _, m := range modes {
		k.run("create", "deployment", "d-"+m, "--image=registry.example/web:1").must()
		uid := k.jsonpath("{.metadata.uid}", "deployment", "d-"+m)
		owned := `apiVersion: v1
kind: ConfigMap
metadata:
  name: owned-` + m + `
  ownerReferences:
  - apiVersion: apps/v1
    kind: Deployment
    name: d-` + m + `
    uid: ` + uid + `
    controller: true
    blockOwnerDeletion: true
`
		k.in(owned, "create", "-f", "-").must()
	}
	for _, m := range modes {
		k.run("delete", "deployment", "d-"+m, "--cascade="+m, "--wait=false").ok().has(`deployment.apps "d-` + m + `" deleted`)
	}
	for m, fin := range map[string]string{"orphan": "orphan", "foreground": "foregroundDeletion"} {
		r := k.run("get", "deployment", "d-"+m, "-o", "jsonpath={.metadata.deletionTimestamp}|{.metadata.finalizers}")
		if r.code == 0 {
			ts, fins, _ := strings.Cut(r.stdout, "|")
			if ts == "" || !strings.Contains(fins, `"`+fin+`"`) {
				k.t.Errorf("--cascade=%s: want a deletionTimestamp and finalizer %q: %s", m, fin, r)
			}
		} else {
			// Only acceptable when the garbage collector already finished.
			r.errHas("NotFound", "not found")
		}
	}
	k.run("get", "deployment", "d-background").exit(1).errHas("NotFound", "not found")

	k.t.Run("end-state", func(t *testing.T) {
		k := &kctl{t: t, bin: k.bin, home: k.home, ns: k.ns, dir: k.dir}
		gone := func(what ...string) bool {
			return k.exec("", nil, append(append([]string{"get"}, what...), "-n", k.ns)...).code != 0
		}
		done := map[string]func() bool{
			"orphan": func() bool {
				return gone("deployment", "d-orphan") && !gone("configmap", "owned-orphan") &&
					k.jsonpath("{.metadata.ownerReferences}", "configmap", "owned-orphan") == ""
			},
			"foreground": func() bool { return gone("configmap", "owned-foreground") && gone("deployment", "d-foreground") },
			"background": func() bool { return gone("configmap", "owned-background") },
		}
		finished := kubectlPoll(20*time.Second, func() bool {
			for _, m := range modes {
				if !done[m]() {
					return false
				}
			}
			return true
		})
		if finished {
			return
		}
		var stuck []string
		for _, m := range modes {
			if !done[m]() {
				stuck = append(stuck, m)
			}
		}
		gcMissing := !gone("configmap", "owned-background") ||
			strings.Contains(k.jsonpath("{.metadata.finalizers}", "deployment", "d-orphan"), "orphan")
		if gcMissing {
			t.Skipf("garbage collector not wired yet: after 20 s the cascade end state is not reached for %v "+
				"(owned-background still present or orphan finalizer still set)", stuck)
		}
		t.Errorf("cascade end state not reached after 20 s for %v", stuck)
	})
}

const kcUnknownFieldYAML = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: unknown
spec:
  foo: bar
  selector:
    matchLabels: {app: unknown}
  template:
    metadata:
      labels: {app: unknown}
    spec:
      containers:
      - name: main
        image: registry.example/web:1
`

func kcBadInput(k *kctl) {
	// Strict field validation (kubectl's default --validate=strict).
	k.in(kcUnknownFieldYAML, "apply", "-f", "-").exit(1).errHas(`unknown field "spec.foo"`)
	k.in(kcUnknownFieldYAML, "create", "-f", "-").exit(1).errHas(`unknown field "spec.foo"`)
	k.run("get", "deployment", "unknown").exit(1).errHas("NotFound", "not found")
	k.in(kcUnknownFieldYAML, "create", "--validate=warn", "-f", "-").ok().errHas(`unknown field "spec.foo"`)
	k.in(strings.Replace(kcUnknownFieldYAML, "name: unknown\n", "name: unknown2\n", 1), "create", "--validate=false", "-f", "-").ok().
		is("deployment.apps/unknown2 created")
	k.run("get", "deployment", "unknown", "-o", "json").ok().lacks(`"foo"`)

	// Malformed YAML never reaches the server.
	k.in("apiVersion: v1\nkind: ConfigMap\nmetadata: [unclosed\n", "apply", "-f", "-").exit(1).errHas("yaml", "error parsing")
	k.in("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n data: {}\n", "create", "-f", "-").exit(1).errHas("yaml", "error")
	// A kind the server does not have. With validation on, kubectl first asks
	// whether it is a CRD (lists apiextensions.k8s.io/v1 CRDs).
	wrongKind := "apiVersion: v1\nkind: Deployment\nmetadata:\n  name: x\n"
	k.in(wrongKind, "create", "--validate=false", "-f", "-").exit(1).errHas(`no matches for kind "Deployment" in version "v1"`)
	// corral does not serve CustomResourceDefinitions yet, so with
	// validation on kubectl stops at the CRD lookup instead (a known gap:
	// the command still fails and writes nothing, with another message).
	k.in(wrongKind, "create", "-f", "-").exit(1).errHas(`no matches for kind "Deployment" in version "v1"`, "failed to check CRD")
	k.run("get", "nosuchthings").exit(1).errHas(`the server doesn't have a resource type "nosuchthings"`)

	// AlreadyExists.
	cm := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dup\n"
	k.in(cm, "create", "-f", "-").ok().is("configmap/dup created")
	k.in(cm, "create", "-f", "-").exit(1).errHas("AlreadyExists").errHas(`configmaps "dup" already exists`)
	k.run("create", "configmap", "dup").exit(1).errHas(`configmaps "dup" already exists`)

	// NotFound.
	k.run("get", "configmap", "missing").exit(1).errHas("NotFound", "not found").errHas(`configmaps "missing" not found`)
	k.run("describe", "configmap", "missing").exit(1).errHas("NotFound", "not found")

	// A namespace that does not exist.
	missing := k.ns + "-nosuch"
	k.global("create", "configmap", "x", "-n", missing).exit(1).errHas(`namespaces "` + missing + `" not found`)
	k.exec(cm, nil, "create", "-f", "-", "-n", missing).exit(1).errHas(`namespaces "` + missing + `" not found`)
	k.exec(cm, nil, "apply", "-f", "-", "-n", missing).exit(1).errHas(`namespaces "` + missing + `" not found`)
	k.global("get", "configmaps", "-n", missing).exit(0).errHas("No resources found")
}

// kcDefaulting checks server-side defaults as kubectl shows them. It needs
// corral/api/defaults: with the no-op stubs these assertions fail.
func kcDefaulting(k *kctl) {
	svc := strings.Replace(kcServiceYAML, "  type: ClusterIP\n", "", 1)
	k.in(svc, "create", "-f", "-").must()
	if f := k.run("get", "service", "s1").ok().row("s1 "); len(f) != 6 || f[1] != "ClusterIP" {
		k.t.Errorf("service without type: want TYPE ClusterIP (defaulting), got %q", f)
	}
	k.run("get", "service", "s1", "-o", "jsonpath={.spec.type} {.spec.sessionAffinity} {.spec.ports[0].protocol}").ok().
		is("ClusterIP None TCP")

	k.run("create", "secret", "generic", "sec", "--from-literal=k=v").must()
	k.run("get", "secret", "sec", "-o", "jsonpath={.type}").ok().is("Opaque")
	k.run("get", "secrets").ok().header("NAME TYPE DATA AGE").has("Opaque")

	k.in(strings.NewReplacer("REPLICAS", "1", "ENV", "").Replace(kcApplyDeploy), "create", "-f", "-").must()
	k.run("get", "deployment", "ad", "-o",
		"jsonpath={.spec.strategy.type} {.spec.revisionHistoryLimit} {.spec.progressDeadlineSeconds} {.spec.template.spec.restartPolicy}").
		ok().is("RollingUpdate 10 600 Always")

	k.in(kcPodYAML, "create", "-f", "-").must()
	k.run("get", "pod", "p1", "-o",
		"jsonpath={.spec.restartPolicy} {.spec.dnsPolicy} {.spec.containers[0].terminationMessagePath} {.spec.containers[0].imagePullPolicy}").
		ok().is("Always ClusterFirst /dev/termination-log IfNotPresent")
}

// kcValidation checks that invalid objects get 422 Invalid with field paths.
// It needs corral/api/validation: with the no-op stubs these fail.
func kcValidation(k *kctl) {
	mismatch := strings.Replace(strings.NewReplacer("REPLICAS", "1", "ENV", "").Replace(kcApplyDeploy),
		"matchLabels: {app: ad}", "matchLabels: {app: other}", 1)
	k.in(mismatch, "create", "-f", "-").exit(1).errHas("is invalid").errHas("spec.template.metadata.labels", "selector")
	k.run("get", "deployment", "ad").exit(1).errHas("NotFound", "not found")

	k.in("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: badkey\ndata:\n  \"bad key\": x\n", "create", "-f", "-").
		exit(1).errHas("is invalid").errHas("data[bad key]", "bad key")
	k.run("create", "configmap", "Bad_Name").exit(1).errHas("is invalid", "invalid")
	k.in(strings.NewReplacer("    image: registry.example/busybox:1\n", "", "name: p1\n", "name: noimage\n").Replace(kcPodYAML), "create", "-f", "-").
		exit(1).errHas("is invalid").errHas("spec.containers[0].image")
	k.in(kcPodYAML, "create", "-f", "-").must()
	k.run("patch", "pod", "p1", "--type=merge", "-p", `{"spec":{"containers":[{"name":"renamed","image":"x"}]}}`).
		exit(1).errHas("is invalid", "Forbidden")
}
