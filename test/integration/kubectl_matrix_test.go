package integration

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
)

// kubectlCase is one row of the matrix: a name and a script run with a
// kubectl bound to its own fresh namespace.
type kubectlCase struct {
	name string
	fn   func(k *kctl)
}

// kubectlCases is the whole matrix, run once per kubectl binary.
func kubectlCases() []kubectlCase {
	return []kubectlCase{
		{"api-resources", kcAPIResources},
		{"api-versions", kcAPIVersions},
		{"version", kcVersion},
		{"cluster-info", kcClusterInfo},
		{"auth", kcAuth},
		{"explain", kcExplain},
		{"create-generators", kcCreateGenerators},
		{"create-namespace", kcCreateNamespace},
		{"get-tables", kcGetTables},
		{"get-formats", kcGetFormats},
		{"get-selectors", kcGetSelectors},
		{"get-all-namespaces", kcGetAllNamespaces},
		{"get-watch", kcGetWatch},
		{"describe", kcDescribe},
		{"apply-client-side", kcApplyClientSide},
		{"apply-server-side", kcApplyServerSide},
		{"diff", kcDiff},
		{"edit", kcEdit},
		{"label-annotate", kcLabelAnnotate},
		{"patch", kcPatch},
		{"replace", kcReplace},
		{"scale", kcScale},
		{"delete", kcDelete},
		{"delete-cascade", kcDeleteCascade},
		{"bad-input", kcBadInput},
		{"defaulting", kcDefaulting},
		{"validation", kcValidation},
	}
}

// TestKubectlMatrix runs every case with every kubectl binary on the machine
// against the shared server. Binaries run in parallel (bounded by -parallel),
// cases within one binary in order.
func TestKubectlMatrix(t *testing.T) {
	for _, bin := range kubectlBinaries() {
		t.Run(bin.name, func(t *testing.T) {
			if _, err := os.Stat(bin.path); err != nil {
				t.Skipf("%s not present: %v", bin.path, err)
			}
			minor, err := kubectlClientMinor(bin.path)
			if err != nil {
				t.Fatalf("%s version --client: %v", bin.path, err)
			}
			bin.minor = minor
			t.Parallel()
			home := t.TempDir()
			for _, c := range kubectlCases() {
				t.Run(c.name, func(t *testing.T) {
					c.fn(newKctl(t, bin, home, c.name))
				})
			}
		})
	}
}

func kcAPIResources(k *kctl) {
	r := k.global("api-resources").ok().header("NAME SHORTNAMES APIVERSION NAMESPACED KIND")
	for name, want := range map[string]string{
		"pods":         "pods po v1 true Pod",
		"deployments":  "deployments deploy apps/v1 true Deployment",
		"statefulsets": "statefulsets sts apps/v1 true StatefulSet",
		"services":     "services svc v1 true Service",
		"configmaps":   "configmaps cm v1 true ConfigMap",
		"namespaces":   "namespaces ns v1 false Namespace",
	} {
		if got := strings.Join(r.row(name+" "), " "); got != want {
			k.t.Errorf("api-resources row for %s: want %q, got %q", name, want, got)
		}
	}
	k.global("api-resources", "--api-group=apps", "-o", "name").ok().
		has("deployments.apps\n", "statefulsets.apps\n", "replicasets.apps\n").lacks("pods")
	k.global("api-resources", "--namespaced=false", "-o", "name").ok().has("namespaces\n").lacks("configmaps")
}

func kcAPIVersions(k *kctl) {
	r := k.global("api-versions").ok()
	lines := "\n" + r.stdout
	for _, gv := range []string{"v1", "apps/v1", "autoscaling/v1", "autoscaling/v2", "batch/v1", "authorization.k8s.io/v1", "rbac.authorization.k8s.io/v1"} {
		if !strings.Contains(lines, "\n"+gv+"\n") {
			k.t.Errorf("api-versions lacks %q: %s", gv, r)
		}
	}
}

func kcVersion(k *kctl) {
	r := k.global("version", "-o", "json").ok()
	var v struct {
		ClientVersion struct{ GitVersion string } `json:"clientVersion"`
		ServerVersion *struct {
			Major, Minor, GitVersion string
		} `json:"serverVersion"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		k.t.Fatalf("version -o json: %v: %s", err, r)
	}
	if v.ServerVersion == nil {
		k.t.Fatalf("no serverVersion: %s", r)
	}
	if !strings.Contains(v.ServerVersion.GitVersion, "corral") || v.ServerVersion.Major != "1" || v.ServerVersion.Minor == "" {
		k.t.Errorf("serverVersion: want major 1, a minor and a gitVersion containing corral, got %+v", *v.ServerVersion)
	}
	if k.bin.minor >= 28 {
		k.global("version").ok().has("Client Version: v1.", "Server Version: "+v.ServerVersion.GitVersion)
	} else { // 1.27 still prints the Go struct by default
		k.global("version").ok().has("Client Version: version.Info{", `GitVersion:"`+v.ServerVersion.GitVersion+`"`)
	}
}

func kcClusterInfo(k *kctl) {
	r := k.global("cluster-info").ok()
	plain := kubectlANSI.ReplaceAllString(r.stdout, "")
	if !strings.Contains(plain, "Kubernetes control plane is running at "+shared.URL) {
		k.t.Errorf("cluster-info: want %q: %s", "Kubernetes control plane is running at "+shared.URL, r)
	}
}

func kcAuth(k *kctl) {
	k.run("auth", "can-i", "create", "deployments.apps").exit(0).is("yes")
	k.global("auth", "can-i", "delete", "nodes").exit(0).is("yes")
	k.global("auth", "can-i", "*", "*", "--all-namespaces").exit(0).is("yes")
	// Someone outside system:masters is denied; can-i itself must still work
	// (upstream lets every authenticated user create SelfSubjectAccessReviews).
	k.run("auth", "can-i", "create", "pods", "--as=someone").exit(1).is("no")
	k.run("auth", "can-i", "list", "secrets", "--as=someone", "--as-group=developers").exit(1).is("no")
	if k.bin.minor >= 28 {
		k.global("auth", "whoami").ok().header("ATTRIBUTE VALUE").has("admin", "system:masters")
		r := k.global("auth", "whoami", "-o", "json").ok()
		var ssr struct {
			Status struct {
				UserInfo struct {
					Username string
					Groups   []string
				} `json:"userInfo"`
			}
		}
		if err := json.Unmarshal([]byte(r.stdout), &ssr); err != nil || ssr.Status.UserInfo.Username != "admin" ||
			!strings.Contains(strings.Join(ssr.Status.UserInfo.Groups, ","), "system:masters") {
			k.t.Errorf("auth whoami -o json: want admin in system:masters (%v): %s", err, r)
		}
	}
}

func kcExplain(k *kctl) {
	k.global("explain", "deployment.spec.strategy").ok().
		has("KIND:", "Deployment", "strategy", "DeploymentStrategy", "rollingUpdate", "type")
	k.global("explain", "pods.spec.containers").ok().
		has("KIND:", "Pod", "containers", "image", "name", "ports", "resources")
	k.global("explain", "deployment.spec.nosuchfield").fails().errHas("nosuchfield")
}

func kcCreateGenerators(k *kctl) {
	k.run("create", "configmap", "lit", "--from-literal=a=a1", "--from-literal=b=b1").ok().is("configmap/lit created")
	k.run("get", "configmap", "lit", "-o", "jsonpath={.data.a},{.data.b}").ok().is("a1,b1")

	k.run("create", "secret", "generic", "sec", "--from-literal=user=admin").ok().is("secret/sec created")
	k.run("get", "secret", "sec", "-o", "jsonpath={.data.user}").ok().is("YWRtaW4=") // base64("admin")

	k.run("create", "deployment", "web", "--image=registry.example/web:1", "--replicas=2").ok().is("deployment.apps/web created")
	k.run("get", "deployment", "web", "-o", "jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image} {.spec.selector.matchLabels.app}").
		ok().is("2 registry.example/web:1 web")
	if g := k.jsonpath("{.metadata.generation}", "deployment", "web"); g != "1" {
		k.t.Errorf("new deployment: want generation 1, got %q", g)
	}

	k.run("create", "service", "clusterip", "svc", "--tcp=80:8080").ok().is("service/svc created")
	r := k.run("get", "service", "svc", "-o", "jsonpath={.spec.type} {.spec.clusterIP} {.spec.ports[0].port} {.spec.ports[0].targetPort}").ok()
	if f := strings.Fields(r.stdout); len(f) != 4 || f[0] != "ClusterIP" || f[1] == "" || f[1] == "None" || f[2] != "80" || f[3] != "8080" {
		k.t.Errorf("clusterip service: want ClusterIP <allocated ip> 80 8080: %s", r)
	}
	k.run("create", "service", "clusterip", "headless", "--clusterip=None").ok()
	k.run("get", "service", "headless", "-o", "jsonpath={.spec.clusterIP}").ok().is("None")
}

func kcCreateNamespace(k *kctl) {
	name := k.ns + "-made"
	k.global("create", "namespace", name).ok().is("namespace/" + name + " created")
	k.global("get", "namespace", name).ok().header("NAME STATUS AGE").has(name, "Active")
	k.global("get", "namespace", name, "-o", "jsonpath={.status.phase}").ok().is("Active")
	k.global("create", "configmap", "inside", "-n", name).ok().is("configmap/inside created")
	k.global("get", "configmap", "inside", "-n", name, "-o", "name").ok().is("configmap/inside")
	k.global("create", "namespace", name).fails().errHas("AlreadyExists", "already exists")
	k.global("delete", "namespace", name, "--wait=false").ok().has(`namespace "` + name + `" deleted`)
	// Two-step deletion: the namespace is Terminating (or gone) right away.
	r := k.global("get", "namespace", name, "-o", "jsonpath={.status.phase}")
	if r.code == 0 && strings.TrimSpace(r.stdout) != "Terminating" {
		k.t.Errorf("deleted namespace: want Terminating or NotFound: %s", r)
	}
	k.global("create", "configmap", "late", "-n", name).fails().errHas("terminat", "not found")
}

const kcPodYAML = `apiVersion: v1
kind: Pod
metadata:
  name: p1
  labels: {app: p1, tier: web}
spec:
  containers:
  - name: main
    image: registry.example/busybox:1
    command: ["sleep", "3600"]
`

const kcServiceYAML = `apiVersion: v1
kind: Service
metadata:
  name: s1
spec:
  type: ClusterIP
  selector: {app: p1}
  ports:
  - port: 80
    protocol: TCP
    targetPort: 8080
`

func kcGetTables(k *kctl) {
	k.in(kcPodYAML, "create", "-f", "-").must()
	k.in(kcServiceYAML, "create", "-f", "-").must()
	k.run("create", "deployment", "d1", "--image=registry.example/web:1").must()
	k.run("create", "configmap", "c1", "--from-literal=a=1", "--from-literal=b=2").must()

	k.run("get", "pods").ok().header("NAME READY STATUS RESTARTS AGE")
	if f := k.run("get", "pods").row("p1 "); len(f) != 5 || f[1] != "0/1" || f[2] != "Pending" || f[3] != "0" {
		k.t.Errorf("get pods: want row p1 0/1 Pending 0 <age>, got %q", f)
	}
	k.run("get", "pods", "-o", "wide").ok().header("NAME READY STATUS RESTARTS AGE IP NODE NOMINATED NODE READINESS GATES")

	k.run("get", "deployments").ok().header("NAME READY UP-TO-DATE AVAILABLE AGE")
	if f := k.run("get", "deployments").row("d1 "); len(f) != 5 || f[1] != "0/1" {
		k.t.Errorf("get deployments: want row d1 0/1 ..., got %q", f)
	}
	r := k.run("get", "deployments", "-o", "wide").ok().header("NAME READY UP-TO-DATE AVAILABLE AGE CONTAINERS IMAGES SELECTOR")
	if f := r.row("d1 "); len(f) != 8 || f[5] != "web" || f[6] != "registry.example/web:1" || f[7] != "app=d1" {
		k.t.Errorf("get deployments -o wide: want ... web registry.example/web:1 app=d1, got %q", f)
	}

	k.run("get", "services").ok().header("NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE")
	if f := k.run("get", "services").row("s1 "); len(f) != 6 || f[1] != "ClusterIP" || f[3] != "<none>" || f[4] != "80/TCP" {
		k.t.Errorf("get services: want row s1 ClusterIP <ip> <none> 80/TCP <age>, got %q", f)
	}
	r = k.run("get", "services", "-o", "wide").ok().header("NAME TYPE CLUSTER-IP EXTERNAL-IP PORT(S) AGE SELECTOR")
	if f := r.row("s1 "); len(f) != 7 || f[6] != "app=p1" {
		k.t.Errorf("get services -o wide: want selector app=p1, got %q", f)
	}

	k.run("get", "configmaps").ok().header("NAME DATA AGE")
	if f := k.run("get", "configmaps").row("c1 "); len(f) != 3 || f[1] != "2" {
		k.t.Errorf("get configmaps: want row c1 2 <age>, got %q", f)
	}
	k.run("get", "configmaps", "--no-headers").ok().lacks("NAME")
	k.run("get", "deployments,configmaps", "-o", "name").ok().has("deployment.apps/d1\n", "configmap/c1\n")
	k.run("get", "secrets").exit(0).errHas("No resources found")
}

func kcGetFormats(k *kctl) {
	k.run("create", "configmap", "fmt", "--from-literal=a=a1").must()
	k.run("get", "configmap", "fmt", "-o", "yaml").ok().
		has("apiVersion: v1\n", "kind: ConfigMap\n", "  name: fmt\n", "  namespace: "+k.ns+"\n", "  a: a1\n", "resourceVersion:", "uid:")
	r := k.run("get", "configmap", "fmt", "-o", "json").ok()
	var obj struct {
		APIVersion, Kind string
		Metadata         struct{ Name, Namespace, UID, ResourceVersion, CreationTimestamp string }
		Data             map[string]string
	}
	if err := json.Unmarshal([]byte(r.stdout), &obj); err != nil {
		k.t.Errorf("-o json does not parse: %v: %s", err, r)
	} else if obj.APIVersion != "v1" || obj.Kind != "ConfigMap" || obj.Metadata.Name != "fmt" || obj.Metadata.Namespace != k.ns ||
		obj.Metadata.UID == "" || obj.Metadata.ResourceVersion == "" || obj.Metadata.CreationTimestamp == "" || obj.Data["a"] != "a1" {
		k.t.Errorf("-o json: unexpected object %+v", obj)
	}
	k.run("get", "configmap", "fmt", "-o", "jsonpath={.metadata.name}={.data.a}").ok().is("fmt=a1")
	k.run("get", "configmaps", "--field-selector=metadata.name=fmt", "-o", `jsonpath={range .items[*]}{.metadata.name}{"\n"}{end}`).ok().is("fmt")
	k.run("get", "configmap", "fmt", "-o", "name").ok().is("configmap/fmt")
	k.run("get", "configmap", "fmt", "-o", "custom-columns=N:.metadata.name,A:.data.a").ok().header("N A").has("fmt", "a1")
	// A list in yaml is a v1 List.
	k.run("get", "configmaps", "-o", "yaml").ok().has("kind: List\n", "items:\n", "name: fmt\n")
}

func kcGetSelectors(k *kctl) {
	k.run("create", "configmap", "x").must()
	k.run("create", "configmap", "y").must()
	k.run("create", "configmap", "z").must()
	k.run("label", "configmap", "x", "y", "z", "set=mine").must()
	k.run("label", "configmap", "x", "app=sel", "tier=a").must()
	k.run("label", "configmap", "y", "app=sel", "tier=b").must()
	k.run("get", "configmaps", "-l", "app=sel", "-o", "name").ok().is("configmap/x\nconfigmap/y")
	k.run("get", "configmaps", "-l", "app=sel,tier=b", "-o", "name").ok().is("configmap/y")
	k.run("get", "configmaps", "-l", "set=mine,app!=sel", "-o", "name").ok().is("configmap/z")
	k.run("get", "configmaps", "-l", "tier in (a,c)", "-o", "name").ok().is("configmap/x")
	k.run("get", "configmaps", "-l", "nosuch=label").exit(0).is("")
	k.run("get", "configmaps", "--field-selector", "metadata.name=x", "-o", "name").ok().is("configmap/x")
	k.run("get", "configmaps", "-l", "set=mine", "--field-selector", "metadata.name!=x", "-o", "name").ok().is("configmap/y\nconfigmap/z")
	k.run("get", "configmaps", "--field-selector", "data.foo=x").exit(1).errHas("BadRequest").
		errHas("field label not supported: data.foo", `"data.foo" is not a known field selector`)
	r := k.run("get", "configmaps", "--show-labels").ok().header("NAME DATA AGE LABELS")
	if f := r.row("x "); len(f) != 4 || f[3] != "app=sel,set=mine,tier=a" {
		k.t.Errorf("--show-labels: want x ... app=sel,set=mine,tier=a, got %q", f)
	}
	if f := r.row("z "); len(f) != 4 || f[3] != "set=mine" {
		k.t.Errorf("--show-labels: want z ... set=mine, got %q", f)
	}
	k.run("create", "configmap", "nolabels").must()
	if f := k.run("get", "configmap", "nolabels", "--show-labels").ok().row("nolabels "); len(f) != 4 || f[3] != "<none>" {
		k.t.Errorf("--show-labels: want nolabels ... <none>, got %q", f)
	}
	k.run("get", "configmaps", "-L", "tier").ok().header("NAME DATA AGE TIER")
}

func kcGetAllNamespaces(k *kctl) {
	other := k.ns + "-b"
	k.global("create", "namespace", other).must()
	k.t.Cleanup(func() { k.global("delete", "namespace", other, "--wait=false") })
	k.run("create", "configmap", "across", "--from-literal=k=v").must()
	k.global("create", "configmap", "across", "-n", other).must()
	r := k.global("get", "configmaps", "-A", "--field-selector", "metadata.name=across").ok().header("NAMESPACE NAME DATA AGE")
	if f := r.row(k.ns + " "); len(f) != 4 || f[1] != "across" || f[2] != "1" {
		k.t.Errorf("-A: want row %s across 1 <age>, got %q: %s", k.ns, f, r)
	}
	if f := r.row(other + " "); len(f) != 4 || f[1] != "across" || f[2] != "0" {
		k.t.Errorf("-A: want row %s across 0 <age>, got %q: %s", other, f, r)
	}
	k.global("get", "namespaces").ok().has("default ", "kube-system ", k.ns+" ", other+" ")
	k.global("get", "services", "-A", "--field-selector", "metadata.name=kubernetes").ok().has("default ", "kubernetes ", "443/TCP")
}

// kcGetWatch starts `kubectl get configmaps -w` and checks that a configmap
// created afterwards shows up in its output.
func kcGetWatch(k *kctl) {
	k.run("create", "configmap", "before").must()
	w := k.start(45*time.Second, "get", "configmaps", "-w")
	if !kubectlPoll(15*time.Second, func() bool { return strings.Contains(w.output(), "before") }) {
		k.t.Fatalf("kubectl get -w: initial list never showed configmap before; output %q", w.output())
	}
	k.run("create", "configmap", "during", "--from-literal=a=1").must()
	if !kubectlPoll(15*time.Second, func() bool { return strings.Contains(w.output(), "during") }) {
		k.t.Errorf("kubectl get -w: created configmap during never appeared; output %q", w.output())
	}
	k.run("delete", "configmap", "before").ok()
	w.stop()
	out := w.output()
	if !strings.HasPrefix(strings.Join(strings.Fields(out), " "), "NAME DATA AGE") {
		k.t.Errorf("kubectl get -w: want header NAME DATA AGE first, output %q", out)
	}
	// -o name variant with --watch-only: only events after the start.
	w2 := k.start(45*time.Second, "get", "configmaps", "--watch-only", "-o", "name")
	time.Sleep(time.Second)
	k.run("create", "configmap", "after").must()
	if !kubectlPoll(15*time.Second, func() bool { return strings.Contains(w2.output(), "configmap/after") }) {
		k.t.Errorf("kubectl get --watch-only -o name: configmap/after never appeared; output %q", w2.output())
	}
	w2.stop()
	if strings.Contains(w2.output(), "configmap/during") {
		k.t.Errorf("--watch-only printed a pre-existing object: %q", w2.output())
	}
}
