package integration

import (
	"strings"
	"time"
)

// kcDescribe covers describe of a pod and of a configmap, with a core/v1
// Event pointing at the configmap shown under Events.
func kcDescribe(k *kctl) {
	k.in(kcPodYAML, "create", "-f", "-").must()
	k.run("describe", "pod", "p1").ok().
		has("Name:", "p1", "Namespace:", k.ns, "Labels:", "app=p1", "Status:", "Pending",
			"Containers:", "main:", "Image:", "registry.example/busybox:1", "Command:", "sleep")

	k.run("create", "configmap", "c1", "--from-literal=a=a1").must()
	uid := k.jsonpath("{.metadata.uid}", "configmap", "c1")
	k.run("describe", "configmap", "c1").ok().has("Name:", "c1", "Data\n====", "a:", "a1", "Events:")
	ev := `apiVersion: v1
kind: Event
metadata:
  name: c1.kubectl-matrix
involvedObject:
  apiVersion: v1
  kind: ConfigMap
  name: c1
  namespace: ` + k.ns + `
  uid: ` + uid + `
reason: MatrixReason
message: hello from the kubectl matrix
type: Warning
count: 3
firstTimestamp: "` + time.Now().Add(-time.Minute).UTC().Format(time.RFC3339) + `"
lastTimestamp: "` + time.Now().UTC().Format(time.RFC3339) + `"
source:
  component: kubectl-matrix
`
	k.in(ev, "create", "-f", "-").ok().is("event/c1.kubectl-matrix created")
	r := k.run("describe", "configmap", "c1").ok().has("Type", "Reason", "From", "Message")
	_, events, found := strings.Cut(r.stdout, "Events:")
	if !found || !strings.Contains(events, "Warning") || !strings.Contains(events, "MatrixReason") ||
		!strings.Contains(events, "kubectl-matrix") || !strings.Contains(events, "hello from the kubectl matrix") {
		k.t.Errorf("describe configmap: want the event under Events: %s", r)
	}
	k.run("get", "events").ok().has("MatrixReason", "configmap/c1", "hello from the kubectl matrix")
	k.run("get", "events", "--field-selector", "involvedObject.name=c1", "-o", "name").ok().is("event/c1.kubectl-matrix")
}

const kcApplyCM1 = `apiVersion: v1
kind: ConfigMap
metadata:
  name: ac
  labels: {keep: "1", drop: "1"}
data:
  a: "1"
  b: "2"
`

const kcApplyCM2 = `apiVersion: v1
kind: ConfigMap
metadata:
  name: ac
  labels: {keep: "1"}
data:
  a: "1"
  c: "3"
`

const kcApplyDeploy = `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ad
spec:
  replicas: REPLICAS
  selector:
    matchLabels: {app: ad}
  template:
    metadata:
      labels: {app: ad}
    spec:
      containers:
      - name: main
        image: registry.example/web:1
        env:
        - {name: KEEP, value: "1"}
ENV`

func kcApplyClientSide(k *kctl) {
	k.in(kcApplyCM1, "apply", "-f", "-").ok().is("configmap/ac created")
	k.in(kcApplyCM1, "apply", "-f", "-").ok().is("configmap/ac unchanged")
	rv := k.jsonpath("{.metadata.resourceVersion}", "configmap", "ac")
	// Someone else adds a field not in the manifest: 3-way merge keeps it.
	k.run("label", "configmap", "ac", "extra=x").must()
	k.in(kcApplyCM2, "apply", "-f", "-").ok().is("configmap/ac configured")
	if rv2 := k.jsonpath("{.metadata.resourceVersion}", "configmap", "ac"); rv2 == rv {
		k.t.Errorf("apply configured but resourceVersion stayed %s", rv)
	}
	k.run("get", "configmap", "ac", "-o", "jsonpath={.data}").ok().is(`{"a":"1","c":"3"}`)
	k.run("get", "configmap", "ac", "-o", "jsonpath={.metadata.labels}").ok().is(`{"extra":"x","keep":"1"}`)
	last := k.jsonpath(`{.metadata.annotations.kubectl\.kubernetes\.io/last-applied-configuration}`, "configmap", "ac")
	if !strings.Contains(last, `"c":"3"`) || strings.Contains(last, `"b":`) || strings.Contains(last, `"drop"`) {
		k.t.Errorf("last-applied-configuration: want the second manifest, got %q", last)
	}
	k.run("apply", "view-last-applied", "configmap", "ac").ok().has("c: \"3\"").lacks("b: \"2\"")

	// A deployment: strategic merge (with the server's OpenAPI) drops an env
	// entry removed from the manifest and keeps the rest.
	d1 := strings.NewReplacer("REPLICAS", "1", "ENV", `        - {name: DROP, value: "2"}`+"\n").Replace(kcApplyDeploy)
	d2 := strings.NewReplacer("REPLICAS", "2", "ENV", "").Replace(kcApplyDeploy)
	k.in(d1, "apply", "-f", "-").ok().is("deployment.apps/ad created")
	k.in(d2, "apply", "-f", "-").ok().is("deployment.apps/ad configured")
	k.run("get", "deployment", "ad", "-o", "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].env[*].name} {.metadata.generation}").
		ok().is("2 KEEP 2")
}

func kcApplyServerSide(k *kctl) {
	m := func(v string) string {
		return "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ss\ndata:\n  a: \"" + v + "\"\n"
	}
	k.in(m("1"), "apply", "--server-side", "-f", "-").ok().is("configmap/ss serverside-applied")
	k.in(m("1"), "apply", "--server-side", "-f", "-").ok().is("configmap/ss serverside-applied")
	r := k.run("get", "configmap", "ss", "-o", "jsonpath={range .metadata.managedFields[*]}{.manager}/{.operation}/{.fieldsType};{end}").ok()
	if !strings.Contains(r.stdout, "kubectl/Apply/FieldsV1;") {
		k.t.Errorf("server-side apply: want managedFields entry kubectl/Apply/FieldsV1: %s", r)
	}
	k.run("get", "configmap", "ss", "-o", "yaml", "--show-managed-fields").ok().has("managedFields:", "f:data:", "f:a: {}")
	k.run("get", "configmap", "ss", "-o", "jsonpath={.metadata.annotations}").ok().lacks("last-applied-configuration")

	k.in(m("2"), "apply", "--server-side", "--field-manager=other", "-f", "-").exit(1).
		errHas("conflict").errHas(`conflict with "kubectl"`).errHas(".data.a")
	k.run("get", "configmap", "ss", "-o", "jsonpath={.data.a}").ok().is("1")
	k.in(m("2"), "apply", "--server-side", "--field-manager=other", "--force-conflicts", "-f", "-").ok().is("configmap/ss serverside-applied")
	k.run("get", "configmap", "ss", "-o", "jsonpath={.data.a}").ok().is("2")
	r = k.run("get", "configmap", "ss", "-o", "jsonpath={range .metadata.managedFields[*]}{.manager};{end}").ok()
	if !strings.Contains(r.stdout, "other;") {
		k.t.Errorf("after --force-conflicts: want manager other: %s", r)
	}
	// Server-side apply of a manifest with an unknown field is rejected too.
	k.in(m("3")+"foo: bar\n", "apply", "--server-side", "-f", "-").fails().errHas(`unknown field "foo"`, `field not declared in schema`, "foo")
	// Dry run writes nothing.
	k.in(m("4"), "apply", "--server-side", "--force-conflicts", "--dry-run=server", "-f", "-").ok().has("(server dry run)")
	k.run("get", "configmap", "ss", "-o", "jsonpath={.data.a}").ok().is("2")
}

func kcDiff(k *kctl) {
	m := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: df\ndata:\n  a: \"1\"\n"
	k.in(m, "diff", "-f", "-").exit(1).has("+  a: \"1\"", "+  name: df")
	k.in(m, "apply", "-f", "-").must()
	k.in(m, "diff", "-f", "-").exit(0).is("")
	changed := strings.Replace(m, `a: "1"`, `a: "2"`, 1)
	k.in(changed, "diff", "-f", "-").exit(1).has("-  a: \"1\"", "+  a: \"2\"")
	k.in(changed, "diff", "--server-side", "-f", "-").exit(1).has("+  a: \"2\"")
	k.run("get", "configmap", "df", "-o", "jsonpath={.data.a}").ok().is("1")
}

func kcEdit(k *kctl) {
	k.run("create", "configmap", "ed", "--from-literal=a=a1", "--from-literal=b=b1").must()
	editor := k.file("editor.sh", "#!/bin/sh\nexec sed -i 's/^  a: a1$/  a: a2/' \"$@\"\n", 0o755)
	k.exec("", []string{"EDITOR=" + editor}, "edit", "configmap", "ed", "-n", k.ns).ok().is("configmap/ed edited")
	k.run("get", "configmap", "ed", "-o", "jsonpath={.data.a},{.data.b}").ok().is("a2,b1")
	// An editor that changes nothing cancels the edit.
	noop := k.file("noop.sh", "#!/bin/sh\nexit 0\n", 0o755)
	k.exec("", []string{"KUBE_EDITOR=" + noop}, "edit", "configmap", "ed", "-n", k.ns).ok().errHas("Edit cancelled, no changes made")
	// edit -o json through an editor that breaks the name is refused.
	rename := k.file("rename.sh", "#!/bin/sh\nexec sed -i 's/\"name\": \"ed\"/\"name\": \"other\"/' \"$@\"\n", 0o755)
	k.exec("", []string{"EDITOR=" + rename}, "edit", "configmap", "ed", "-o", "json", "-n", k.ns).fails().
		errHas("apiVersion, kind and name was changed")
	k.run("get", "configmap", "other").exit(1)
}

func kcLabelAnnotate(k *kctl) {
	annotated := "annotated"
	if k.bin.minor < 28 {
		annotated = "annotate" // kubectl 1.27 prints "configmap/x annotate"
	}
	k.run("create", "configmap", "la").must()
	k.run("label", "configmap", "la", "env=dev").ok().is("configmap/la labeled")
	k.run("label", "configmap", "la", "env=prod").exit(1).errHas("already has a value")
	k.run("label", "configmap", "la", "env=prod", "--overwrite").ok().is("configmap/la labeled")
	k.run("get", "configmap", "la", "-o", "jsonpath={.metadata.labels.env}").ok().is("prod")
	k.run("label", "configmap", "la", "env-").ok().is("configmap/la unlabeled")
	k.run("get", "configmap", "la", "-o", "jsonpath={.metadata.labels}").ok().lacks("env")
	k.run("label", "configmap", "la", "bad label=x").fails()

	k.run("annotate", "configmap", "la", "note=one").ok().is("configmap/la " + annotated)
	k.run("annotate", "configmap", "la", "note=two").exit(1).errHas("--overwrite is false", "already has a value")
	k.run("get", "configmap", "la", "-o", "jsonpath={.metadata.annotations.note}").ok().is("one")
	k.run("annotate", "configmap", "la", "note=two", "--overwrite").ok().is("configmap/la " + annotated)
	k.run("get", "configmap", "la", "-o", "jsonpath={.metadata.annotations.note}").ok().is("two")
	rv := k.jsonpath("{.metadata.resourceVersion}", "configmap", "la")
	k.run("annotate", "configmap", "la", "note=three", "--overwrite", "--resource-version="+rv).ok()
	k.run("annotate", "configmap", "la", "note=four", "--overwrite", "--resource-version="+rv).fails().errHas("Conflict", "has been modified")
	k.run("annotate", "configmap", "la", "note-").ok().is("configmap/la " + annotated)
	k.run("get", "configmap", "la", "-o", "jsonpath={.metadata.annotations}").ok().lacks("note")
}

func kcPatch(k *kctl) {
	k.run("create", "deployment", "pd", "--image=registry.example/web:1").must()
	k.run("patch", "deployment", "pd", "--type=strategic", "-p",
		`{"spec":{"template":{"spec":{"containers":[{"name":"web","image":"registry.example/web:2"},{"name":"side","image":"registry.example/side:1"}]}}}}`).
		ok().is("deployment.apps/pd patched")
	k.run("get", "deployment", "pd", "-o", "jsonpath={.spec.template.spec.containers[*].name}={.spec.template.spec.containers[*].image}").
		ok().is("web side=registry.example/web:2 registry.example/side:1")
	// Strategic merge: $patch delete on one list entry (merge key name).
	k.run("patch", "deployment", "pd", "-p", `{"spec":{"template":{"spec":{"containers":[{"name":"side","$patch":"delete"}]}}}}`).ok()
	k.run("get", "deployment", "pd", "-o", "jsonpath={.spec.template.spec.containers[*].name}").ok().is("web")

	k.run("create", "configmap", "pc", "--from-literal=a=1", "--from-literal=b=2").must()
	k.run("patch", "configmap", "pc", "--type=merge", "-p", `{"data":{"a":"10","b":null,"m":"3"}}`).ok().is("configmap/pc patched")
	k.run("get", "configmap", "pc", "-o", "jsonpath={.data}").ok().is(`{"a":"10","m":"3"}`)
	k.run("patch", "configmap", "pc", "--type=json", "-p", `[{"op":"add","path":"/data/j","value":"4"},{"op":"remove","path":"/data/m"}]`).
		ok().is("configmap/pc patched")
	k.run("get", "configmap", "pc", "-o", "jsonpath={.data}").ok().is(`{"a":"10","j":"4"}`)
	k.run("patch", "configmap", "pc", "--type=json", "-p", `[{"op":"test","path":"/data/a","value":"nope"}]`).fails()
	k.run("patch", "configmap", "pc", "--type=merge", "-p", `{"data":{"a":"10"}}`).ok().is("configmap/pc patched (no change)")
	k.run("patch", "configmap", "missing", "--type=merge", "-p", `{"data":{"a":"1"}}`).exit(1).errHas("NotFound", "not found")
}

func kcReplace(k *kctl) {
	k.run("create", "configmap", "rp", "--from-literal=a=1").must()
	stale := k.run("get", "configmap", "rp", "-o", "yaml").must().stdout
	k.run("label", "configmap", "rp", "moved=on").must() // bumps resourceVersion
	k.in(strings.Replace(stale, `a: "1"`, `a: "stale"`, 1), "replace", "-f", "-").exit(1).
		errHas("Conflict").errHas("the object has been modified")
	k.run("get", "configmap", "rp", "-o", "jsonpath={.data.a}").ok().is("1")

	fresh := "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: rp\ndata:\n  a: \"2\"\n"
	k.in(fresh, "replace", "-f", "-").ok().is("configmap/rp replaced")
	k.run("get", "configmap", "rp", "-o", "jsonpath={.data.a}|{.metadata.labels}").ok().is("2|") // replace drops the label
	k.in(fresh, "replace", "--force", "-f", "-").ok().has("configmap \"rp\" deleted", "configmap/rp replaced")
	k.in(strings.Replace(fresh, "name: rp", "name: nothere", 1), "replace", "-f", "-").exit(1).errHas("NotFound", "not found")
}

const kcStatefulSetYAML = `apiVersion: apps/v1
kind: StatefulSet
metadata:
  name: db
spec:
  serviceName: db
  replicas: 1
  selector:
    matchLabels: {app: db}
  template:
    metadata:
      labels: {app: db}
    spec:
      containers:
      - name: db
        image: registry.example/db:1
`

func kcScale(k *kctl) {
	k.run("create", "deployment", "sc", "--image=registry.example/web:1").must()
	k.run("scale", "deployment", "sc", "--replicas=3").ok().is("deployment.apps/sc scaled")
	k.run("get", "deployment", "sc", "-o", "jsonpath={.spec.replicas}").ok().is("3")
	k.run("scale", "deployment", "sc", "--replicas=5", "--current-replicas=2").fails()
	k.run("scale", "deployment", "sc", "--replicas=1", "--current-replicas=3").ok()
	k.run("get", "deployment", "sc", "-o", "jsonpath={.spec.replicas}").ok().is("1")
	k.run("get", "deployment", "sc", "--subresource=scale").ok().header("NAME DESIRED AVAILABLE")

	k.in(kcStatefulSetYAML, "create", "-f", "-").must()
	k.run("scale", "statefulset", "db", "--replicas=3").ok().is("statefulset.apps/db scaled")
	k.run("get", "statefulset", "db", "-o", "jsonpath={.spec.replicas}").ok().is("3")
	k.run("get", "statefulsets").ok().header("NAME READY AGE").has("0/3")
	k.run("scale", "configmap", "nope", "--replicas=1").fails()
}

func kcDelete(k *kctl) {
	k.run("create", "configmap", "d1").must()
	k.run("delete", "configmap", "d1").ok().is(`configmap "d1" deleted`) // --wait=true by default
	k.run("get", "configmap", "d1").exit(1).errHas("NotFound", "not found")
	k.run("delete", "configmap", "d1").exit(1).errHas("NotFound", "not found")
	k.run("delete", "configmap", "d1", "--ignore-not-found").ok().is("")

	// An unscheduled pod has no kubelet to wait for: it goes at once.
	k.in(kcPodYAML, "create", "-f", "-").must()
	k.run("delete", "pod", "p1", "--timeout=30s").ok().is(`pod "p1" deleted`)
	k.run("get", "pod", "p1").exit(1).errHas("NotFound", "not found")

	for _, n := range []string{"l1", "l2", "l3"} {
		k.run("create", "configmap", n).must()
	}
	k.run("label", "configmap", "l1", "l2", "grp=del").must()
	k.run("delete", "configmap", "-l", "grp=del").ok().has(`configmap "l1" deleted`, `configmap "l2" deleted`).lacks("l3")
	k.run("get", "configmaps", "l1", "l2", "l3", "--ignore-not-found", "-o", "name").ok().is("configmap/l3")
	k.run("delete", "configmaps", "--all").ok().has(`configmap "l3" deleted`)
	k.run("get", "configmap", "l3").exit(1).errHas("NotFound", "not found")
}
