"""Drive corral with the official Kubernetes Python client (Debian's python3-kubernetes)."""
import sys

from kubernetes import client, config, watch
from kubernetes.client.rest import ApiException

config.load_kube_config(config_file=sys.argv[1])
ns = sys.argv[2]
core = client.CoreV1Api()
apps = client.AppsV1Api()

core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=ns)))
cm = core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="py"), data={"k": "v"}))
assert cm.metadata.uid, "no uid"
core.patch_namespaced_config_map("py", ns, {"data": {"k": "w"}})
assert core.read_namespaced_config_map("py", ns).data["k"] == "w"

try:
    core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="py")))
    raise SystemExit("duplicate create succeeded")
except ApiException as e:
    assert e.status == 409, e.status

dep = client.V1Deployment(
    metadata=client.V1ObjectMeta(name="web"),
    spec=client.V1DeploymentSpec(
        replicas=2,
        selector=client.V1LabelSelector(match_labels={"app": "web"}),
        template=client.V1PodTemplateSpec(
            metadata=client.V1ObjectMeta(labels={"app": "web"}),
            spec=client.V1PodSpec(containers=[client.V1Container(name="c", image="busybox:1.36")]))))
created = apps.create_namespaced_deployment(ns, dep)
assert created.spec.strategy.rolling_update.max_surge == "25%", created.spec.strategy

# Watch from the list's resourceVersion, as informers do.
rv = core.list_namespaced_config_map(ns).metadata.resource_version
core.create_namespaced_config_map(ns, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="py2")))
w = watch.Watch()
names = set()
for event in w.stream(core.list_namespaced_config_map, ns, resource_version=rv, timeout_seconds=10):
    names.add(event["object"].metadata.name)
    if "py2" in names:
        w.stop()
assert "py2" in names, names
print("python client ok")
