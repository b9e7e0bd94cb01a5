package printers

import (
	"context"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	eventsv1 "k8s.io/api/events/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/intstr"
)

var created = metav1.NewTime(time.Now().Add(-10 * time.Hour))

func om(name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: name, Namespace: "default", CreationTimestamp: created, ResourceVersion: "7"}
}

func ptr[T any](v T) *T { return &v }

func gr(group, res string) schema.GroupResource {
	return schema.GroupResource{Group: group, Resource: res}
}

var podTemplate = corev1.PodTemplateSpec{
	ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
	Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx"}, {Name: "log", Image: "busybox"}}},
}

var selector = &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}}

// samples holds one object of every resource, with the cells the test checks
// by column name.
var samples = []struct {
	gr    schema.GroupResource
	obj   runtime.Object
	cells map[string]interface{}
}{
	{gr("", "pods"), &corev1.Pod{ObjectMeta: om("p")}, map[string]interface{}{"Ready": "0/0", "Node": "<none>"}},
	{gr("", "podtemplates"), &corev1.PodTemplate{ObjectMeta: om("pt"), Template: podTemplate},
		map[string]interface{}{"Containers": "web,log", "Images": "nginx,busybox", "Pod Labels": "app=web"}},
	{gr("", "namespaces"), &corev1.Namespace{ObjectMeta: om("ns"), Status: corev1.NamespaceStatus{Phase: corev1.NamespaceActive}},
		map[string]interface{}{"Status": "Active", "Age": "10h"}},
	{gr("", "services"), &corev1.Service{ObjectMeta: om("svc"), Spec: corev1.ServiceSpec{
		Type: corev1.ServiceTypeNodePort, ClusterIPs: []string{"10.0.0.1"}, Selector: map[string]string{"app": "web"},
		Ports: []corev1.ServicePort{{Port: 80, NodePort: 30080, Protocol: corev1.ProtocolTCP}, {Port: 53, Protocol: corev1.ProtocolUDP}},
	}}, map[string]interface{}{"Type": "NodePort", "Cluster-IP": "10.0.0.1", "External-IP": "<none>", "Port(s)": "80:30080/TCP,53/UDP", "Selector": "app=web"}},
	{gr("", "services"), &corev1.Service{ObjectMeta: om("lb"), Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer}},
		map[string]interface{}{"External-IP": "<pending>", "Cluster-IP": "<none>", "Port(s)": "<none>", "Selector": "<none>"}},
	{gr("", "endpoints"), &corev1.Endpoints{ObjectMeta: om("ep"), Subsets: []corev1.EndpointSubset{{
		Addresses: []corev1.EndpointAddress{{IP: "10.1.0.1"}, {IP: "10.1.0.2"}},
		Ports:     []corev1.EndpointPort{{Port: 80}, {Port: 443}},
	}}}, map[string]interface{}{"Endpoints": "10.1.0.1:80,10.1.0.2:80,10.1.0.1:443 + 1 more..."}},
	{gr("", "configmaps"), &corev1.ConfigMap{ObjectMeta: om("cm"), Data: map[string]string{"a": "1"}, BinaryData: map[string][]byte{"b": nil}},
		map[string]interface{}{"Data": int64(2)}},
	{gr("", "secrets"), &corev1.Secret{ObjectMeta: om("s"), Type: corev1.SecretTypeOpaque, Data: map[string][]byte{"a": nil}},
		map[string]interface{}{"Type": "Opaque", "Data": int64(1)}},
	{gr("", "nodes"), &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n1", CreationTimestamp: created, Labels: map[string]string{
			"node-role.kubernetes.io/worker": "", "node-role.kubernetes.io/control-plane": ""}},
		Spec: corev1.NodeSpec{Unschedulable: true},
		Status: corev1.NodeStatus{
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
			Addresses:  []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.168.0.2"}},
			NodeInfo:   corev1.NodeSystemInfo{KubeletVersion: "v1.37.2", OSImage: "Debian"},
		},
	}, map[string]interface{}{"Status": "Ready,SchedulingDisabled", "Roles": "control-plane,worker", "Version": "v1.37.2",
		"Internal-IP": "192.168.0.2", "External-IP": "<none>", "OS-Image": "Debian", "Kernel-Version": "<unknown>"}},
	{gr("", "events"), &corev1.Event{ObjectMeta: om("e"), Type: "Normal", Reason: "Pulled", Message: " pulled \n",
		InvolvedObject: corev1.ObjectReference{Kind: "Pod", Name: "p"}, Source: corev1.EventSource{Component: "kubelet", Host: "n1"},
		FirstTimestamp: created, LastTimestamp: metav1.NewTime(time.Now().Add(-time.Minute)), Count: 3},
		map[string]interface{}{"Last Seen": "60s", "Object": "pod/p", "Message": "pulled", "Source": "kubelet, n1", "First Seen": "10h", "Count": int64(3), "Name": "e"}},
	{gr("events.k8s.io", "events"), &eventsv1.Event{ObjectMeta: om("e2"), Type: "Warning", Reason: "BackOff", Note: "back-off",
		Regarding: corev1.ObjectReference{Kind: "Pod", Name: "p"}, ReportingController: "kubelet",
		EventTime: metav1.NewMicroTime(created.Time)},
		map[string]interface{}{"Last Seen": "10h", "Type": "Warning", "Object": "pod/p", "Message": "back-off", "Source": "kubelet", "Count": int64(1)}},
	{gr("", "serviceaccounts"), &corev1.ServiceAccount{ObjectMeta: om("sa")}, map[string]interface{}{"Secrets": int64(0)}},
	{gr("", "persistentvolumes"), &corev1.PersistentVolume{ObjectMeta: om("pv"), Spec: corev1.PersistentVolumeSpec{
		Capacity:    corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")},
		AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany, corev1.ReadWriteOnce},
		ClaimRef:    &corev1.ObjectReference{Namespace: "default", Name: "data"}, StorageClassName: "standard",
		PersistentVolumeReclaimPolicy: corev1.PersistentVolumeReclaimRetain,
	}, Status: corev1.PersistentVolumeStatus{Phase: corev1.VolumeBound}},
		map[string]interface{}{"Capacity": "1Gi", "Access Modes": "RWO,RWX", "Claim": "default/data", "Status": "Bound",
			"StorageClass": "standard", "VolumeMode": "<unset>", "Reclaim Policy": "Retain"}},
	{gr("", "persistentvolumeclaims"), &corev1.PersistentVolumeClaim{ObjectMeta: om("data"),
		Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv", StorageClassName: ptr("standard")},
		Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound, AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
			Capacity: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}}},
		map[string]interface{}{"Status": "Bound", "Volume": "pv", "Capacity": "1Gi", "Access Modes": "RWO", "StorageClass": "standard"}},
	{gr("", "resourcequotas"), &corev1.ResourceQuota{ObjectMeta: om("q"), Status: corev1.ResourceQuotaStatus{
		Hard: corev1.ResourceList{"pods": resource.MustParse("10"), "limits.cpu": resource.MustParse("4"), "requests.cpu": resource.MustParse("2")},
		Used: corev1.ResourceList{"pods": resource.MustParse("1")},
	}}, map[string]interface{}{"Request": "pods: 1/10, requests.cpu: 0/2", "Limit": "limits.cpu: 0/4"}},
	{gr("", "limitranges"), &corev1.LimitRange{ObjectMeta: om("lr")}, map[string]interface{}{"Created At": created.UTC().Format(time.RFC3339)}},
	{gr("apps", "deployments"), &appsv1.Deployment{ObjectMeta: om("d"),
		Spec:   appsv1.DeploymentSpec{Replicas: ptr(int32(3)), Selector: selector, Template: podTemplate},
		Status: appsv1.DeploymentStatus{ReadyReplicas: 2, UpdatedReplicas: 3, AvailableReplicas: 2}},
		map[string]interface{}{"Ready": "2/3", "Up-to-date": int64(3), "Available": int64(2), "Containers": "web,log", "Selector": "app=web"}},
	{gr("apps", "replicasets"), &appsv1.ReplicaSet{ObjectMeta: om("rs"),
		Spec:   appsv1.ReplicaSetSpec{Replicas: ptr(int32(2)), Selector: selector, Template: podTemplate},
		Status: appsv1.ReplicaSetStatus{Replicas: 2, ReadyReplicas: 1}},
		map[string]interface{}{"Desired": int64(2), "Current": int64(2), "Ready": int64(1), "Selector": "app=web"}},
	{gr("apps", "statefulsets"), &appsv1.StatefulSet{ObjectMeta: om("sts"),
		Spec: appsv1.StatefulSetSpec{Replicas: ptr(int32(3)), Template: podTemplate}, Status: appsv1.StatefulSetStatus{ReadyReplicas: 3}},
		map[string]interface{}{"Ready": "3/3", "Images": "nginx,busybox"}},
	{gr("apps", "daemonsets"), &appsv1.DaemonSet{ObjectMeta: om("ds"), Spec: appsv1.DaemonSetSpec{Selector: selector, Template: podTemplate},
		Status: appsv1.DaemonSetStatus{DesiredNumberScheduled: 2, NumberReady: 1}},
		map[string]interface{}{"Desired": int64(2), "Ready": int64(1), "Node Selector": "<none>"}},
	{gr("apps", "controllerrevisions"), &appsv1.ControllerRevision{ObjectMeta: metav1.ObjectMeta{Name: "cr", CreationTimestamp: created,
		OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "ds", Controller: ptr(true)}}}, Revision: 4},
		map[string]interface{}{"Controller": "daemonset.apps/ds", "Revision": int64(4)}},
	{gr("batch", "jobs"), &batchv1.Job{ObjectMeta: om("j"), Spec: batchv1.JobSpec{Completions: ptr(int32(1)), Template: podTemplate},
		Status: batchv1.JobStatus{Succeeded: 1, StartTime: &created, CompletionTime: ptr(metav1.NewTime(created.Add(90 * time.Second))),
			Conditions: []batchv1.JobCondition{{Type: batchv1.JobComplete, Status: corev1.ConditionTrue}}}},
		map[string]interface{}{"Status": "Complete", "Completions": "1/1", "Duration": "90s"}},
	{gr("batch", "cronjobs"), &batchv1.CronJob{ObjectMeta: om("cj"), Spec: batchv1.CronJobSpec{Schedule: "*/5 * * * *", Suspend: ptr(false)}},
		map[string]interface{}{"Schedule": "*/5 * * * *", "Timezone": "<none>", "Suspend": "False", "Active": int64(0), "Last Schedule": "<none>"}},
	{gr("coordination.k8s.io", "leases"), &coordinationv1.Lease{ObjectMeta: om("l"), Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr("me")}},
		map[string]interface{}{"Holder": "me"}},
	{gr("discovery.k8s.io", "endpointslices"), &discoveryv1.EndpointSlice{ObjectMeta: om("es"), AddressType: discoveryv1.AddressTypeIPv4,
		Ports: []discoveryv1.EndpointPort{{Port: ptr(int32(80))}}, Endpoints: []discoveryv1.Endpoint{{Addresses: []string{"10.1.0.1"}}}},
		map[string]interface{}{"AddressType": "IPv4", "Ports": "80", "Endpoints": "10.1.0.1"}},
	{gr("networking.k8s.io", "ingresses"), &networkingv1.Ingress{ObjectMeta: om("ing"), Spec: networkingv1.IngressSpec{
		Rules: []networkingv1.IngressRule{{Host: "a.example"}, {}}, TLS: []networkingv1.IngressTLS{{}}}},
		map[string]interface{}{"Class": "<none>", "Hosts": "a.example", "Address": "", "Ports": "80, 443"}},
	{gr("networking.k8s.io", "ingressclasses"), &networkingv1.IngressClass{ObjectMeta: om("nginx"), Spec: networkingv1.IngressClassSpec{Controller: "k8s.io/ingress-nginx"}},
		map[string]interface{}{"Controller": "k8s.io/ingress-nginx", "Parameters": "<none>"}},
	{gr("networking.k8s.io", "networkpolicies"), &networkingv1.NetworkPolicy{ObjectMeta: om("np")},
		map[string]interface{}{"Pod-Selector": "<none>"}},
	{gr("autoscaling", "horizontalpodautoscalers"), &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: om("hpa2"),
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "d"}, MaxReplicas: 5,
			Metrics: []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceMemory, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: ptr(resource.MustParse("100Mi"))}}}}}},
		map[string]interface{}{"Reference": "Deployment/d", "Targets": "memory: <unknown>/100Mi", "MinPods": "<unset>", "MaxPods": int64(5)}},
	{gr("autoscaling", "horizontalpodautoscalers"), &autoscalingv1.HorizontalPodAutoscaler{ObjectMeta: om("hpa1"),
		Spec: autoscalingv1.HorizontalPodAutoscalerSpec{ScaleTargetRef: autoscalingv1.CrossVersionObjectReference{Kind: "Deployment", Name: "d"},
			MinReplicas: ptr(int32(1)), MaxReplicas: 5, TargetCPUUtilizationPercentage: ptr(int32(80))},
		Status: autoscalingv1.HorizontalPodAutoscalerStatus{CurrentReplicas: 2, CurrentCPUUtilizationPercentage: ptr(int32(50))}},
		map[string]interface{}{"Targets": "cpu: 50%/80%", "MinPods": "1", "Replicas": int64(2)}},
	{gr("policy", "poddisruptionbudgets"), &policyv1.PodDisruptionBudget{ObjectMeta: om("pdb"),
		Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: ptr(intstr.FromString("50%"))}},
		map[string]interface{}{"Min Available": "50%", "Max Unavailable": "N/A", "Allowed Disruptions": int64(0)}},
	{gr("rbac.authorization.k8s.io", "roles"), &rbacv1.Role{ObjectMeta: om("r")}, map[string]interface{}{"Name": "r"}},
	{gr("rbac.authorization.k8s.io", "clusterroles"), &rbacv1.ClusterRole{ObjectMeta: om("cr")}, map[string]interface{}{"Name": "cr"}},
	{gr("rbac.authorization.k8s.io", "rolebindings"), &rbacv1.RoleBinding{ObjectMeta: om("rb"), RoleRef: rbacv1.RoleRef{Kind: "Role", Name: "r"},
		Subjects: []rbacv1.Subject{{Kind: "User", Name: "alice"}, {Kind: "User", Name: "bob"}, {Kind: "ServiceAccount", Namespace: "kube-system", Name: "sa"}}},
		map[string]interface{}{"Role": "Role/r", "Users": "alice, bob", "Groups": "", "ServiceAccounts": "kube-system/sa"}},
	{gr("rbac.authorization.k8s.io", "clusterrolebindings"), &rbacv1.ClusterRoleBinding{ObjectMeta: om("crb"), RoleRef: rbacv1.RoleRef{Kind: "ClusterRole", Name: "admin"},
		Subjects: []rbacv1.Subject{{Kind: "Group", Name: "system:masters"}}},
		map[string]interface{}{"Role": "ClusterRole/admin", "Groups": "system:masters"}},
	{gr("scheduling.k8s.io", "priorityclasses"), &schedulingv1.PriorityClass{ObjectMeta: om("high"), Value: 1000},
		map[string]interface{}{"Value": int64(1000), "Global-Default": false, "PreemptionPolicy": ""}},
	{gr("storage.k8s.io", "storageclasses"), &storagev1.StorageClass{ObjectMeta: metav1.ObjectMeta{Name: "standard", CreationTimestamp: created,
		Annotations: map[string]string{"storageclass.kubernetes.io/is-default-class": "true"}}, Provisioner: "local"},
		map[string]interface{}{"Name": "standard (default)", "ReclaimPolicy": "Delete", "VolumeBindingMode": "Immediate", "AllowVolumeExpansion": false}},
}

func convert(t *testing.T, gr schema.GroupResource, obj runtime.Object, opts *metav1.TableOptions) *metav1.Table {
	t.Helper()
	tbl, err := TableConvertor(gr).ConvertToTable(context.Background(), obj, opts)
	if err != nil {
		t.Fatalf("%s: ConvertToTable: %v", gr, err)
	}
	return tbl
}

// cellsByName maps column names to the cells of row i.
func cellsByName(t *testing.T, tbl *metav1.Table, i int) map[string]interface{} {
	t.Helper()
	out := map[string]interface{}{}
	for j, c := range tbl.ColumnDefinitions {
		out[c.Name] = tbl.Rows[i].Cells[j]
	}
	return out
}

func TestEveryResource(t *testing.T) {
	covered := map[schema.GroupResource]bool{}
	for _, s := range samples {
		covered[s.gr] = true
		t.Run(s.gr.String()+"/"+s.obj.(metav1.Object).GetName(), func(t *testing.T) {
			tbl := convert(t, s.gr, s.obj, nil)
			if len(tbl.Rows) != 1 {
				t.Fatalf("got %d rows, want 1", len(tbl.Rows))
			}
			if got, want := len(tbl.Rows[0].Cells), len(tbl.ColumnDefinitions); got != want {
				t.Fatalf("row has %d cells, table %d columns", got, want)
			}
			if c := tbl.ColumnDefinitions[0]; c.Name != "Name" || c.Format != "name" {
				// Events lead with LAST SEEN; their name is a wide column.
				if s.gr.Resource != "events" {
					t.Errorf("first column = %+v, want Name", c)
				}
			}
			if tbl.ResourceVersion != "7" && s.obj.(metav1.Object).GetResourceVersion() == "7" {
				t.Errorf("ResourceVersion = %q, want 7", tbl.ResourceVersion)
			}
			cells := cellsByName(t, tbl, 0)
			if name, ok := cells["Name"]; ok && s.cells["Name"] == nil && name != s.obj.(metav1.Object).GetName() {
				t.Errorf("Name = %v", name)
			}
			if age, ok := cells["Age"]; ok && age != "10h" {
				t.Errorf("Age = %v, want 10h", age)
			}
			for col, want := range s.cells {
				got, ok := cells[col]
				if !ok {
					t.Errorf("no column %q", col)
					continue
				}
				if got != want {
					t.Errorf("%s = %#v, want %#v", col, got, want)
				}
			}
		})
	}
	for gr := range registry {
		if !covered[gr] {
			t.Errorf("no sample for %s", gr)
		}
	}
}

// TestColumns pins the column headers kubectl shows, wide ones marked with
// a trailing "+".
func TestColumns(t *testing.T) {
	tests := []struct {
		gr   schema.GroupResource
		want string
	}{
		{gr("", "pods"), "Name Ready Status Restarts Age IP+ Node+ Nominated Node+ Readiness Gates+"},
		{gr("apps", "deployments"), "Name Ready Up-to-date Available Age Containers+ Images+ Selector+"},
		{gr("", "services"), "Name Type Cluster-IP External-IP Port(s) Age Selector+"},
		{gr("", "nodes"), "Name Status Roles Age Version Internal-IP+ External-IP+ OS-Image+ Kernel-Version+ Container-Runtime+"},
		{gr("", "namespaces"), "Name Status Age"},
		{gr("", "configmaps"), "Name Data Age"},
		{gr("", "secrets"), "Name Type Data Age"},
		{gr("", "events"), "Last Seen Type Reason Object Subobject+ Source+ Message First Seen+ Count+ Name+"},
		{gr("events.k8s.io", "events"), "Last Seen Type Reason Object Subobject+ Source+ Message First Seen+ Count+ Name+"},
		{gr("batch", "jobs"), "Name Status Completions Duration Age Containers+ Images+ Selector+"},
		{gr("batch", "cronjobs"), "Name Schedule Timezone Suspend Active Last Schedule Age Containers+ Images+ Selector+"},
		{gr("apps", "statefulsets"), "Name Ready Age Containers+ Images+"},
		{gr("", "resourcequotas"), "Name Request Limit Age"},
		{gr("rbac.authorization.k8s.io", "roles"), "Name Created At"},
		{gr("example.com", "widgets"), "Name Created At"},
	}
	for _, tc := range tests {
		// An empty list yields the headers of any resource.
		tbl := convert(t, tc.gr, &corev1.PodList{}, nil)
		var names []string
		for _, c := range tbl.ColumnDefinitions {
			n := c.Name
			if c.Priority == 1 {
				n += "+"
			}
			names = append(names, n)
		}
		if got := strings.Join(names, " "); got != tc.want {
			t.Errorf("%s columns = %q, want %q", tc.gr, got, tc.want)
		}
	}
}

func TestList(t *testing.T) {
	list := &corev1.PodList{
		ListMeta: metav1.ListMeta{ResourceVersion: "42", Continue: "token", RemainingItemCount: ptr(int64(3))},
		Items:    []corev1.Pod{{ObjectMeta: om("a")}, {ObjectMeta: om("b")}},
	}
	tbl := convert(t, gr("", "pods"), list, &metav1.TableOptions{})
	if len(tbl.Rows) != 2 || tbl.Rows[0].Cells[0] != "a" || tbl.Rows[1].Cells[0] != "b" {
		t.Fatalf("rows = %+v", tbl.Rows)
	}
	if tbl.ResourceVersion != "42" || tbl.Continue != "token" || tbl.RemainingItemCount == nil || *tbl.RemainingItemCount != 3 {
		t.Errorf("list meta = %q %q %v", tbl.ResourceVersion, tbl.Continue, tbl.RemainingItemCount)
	}

	empty := convert(t, gr("", "pods"), &corev1.PodList{}, nil)
	if len(empty.Rows) != 0 || len(empty.ColumnDefinitions) == 0 {
		t.Errorf("empty list: %d rows, %d columns", len(empty.Rows), len(empty.ColumnDefinitions))
	}
}

func TestNoHeaders(t *testing.T) {
	tbl := convert(t, gr("", "pods"), &corev1.Pod{ObjectMeta: om("a")}, &metav1.TableOptions{NoHeaders: true})
	if tbl.ColumnDefinitions != nil {
		t.Errorf("ColumnDefinitions = %v, want none", tbl.ColumnDefinitions)
	}
	if len(tbl.Rows) != 1 || len(tbl.Rows[0].Cells) != len(podPrinter.columns) {
		t.Errorf("rows = %+v", tbl.Rows)
	}
}

// Rows carry the full object whatever the policy: the generic handler
// reads each row's object and then applies the policy itself.
func TestIncludeObject(t *testing.T) {
	pod := &corev1.Pod{ObjectMeta: om("a")}
	for _, gr := range []schema.GroupResource{gr("", "pods"), gr("example.com", "widgets")} {
		for _, policy := range []metav1.IncludeObjectPolicy{"", metav1.IncludeMetadata, metav1.IncludeObject, metav1.IncludeNone} {
			tbl := convert(t, gr, pod, &metav1.TableOptions{IncludeObject: policy})
			if got := tbl.Rows[0].Object.Object; got != pod {
				t.Errorf("%s %q: object = %T, want the pod", gr, policy, got)
			}
		}
	}

	_, err := TableConvertor(gr("", "pods")).ConvertToTable(context.Background(), pod, &metav1.TableOptions{IncludeObject: "Everything"})
	if !apierrors.IsBadRequest(err) {
		t.Errorf("unknown includeObject: err = %v, want BadRequest", err)
	}
	_, err = TableConvertor(gr("", "pods")).ConvertToTable(context.Background(), &corev1.PodList{}, &metav1.TableOptions{IncludeObject: "Everything"})
	if !apierrors.IsBadRequest(err) {
		t.Errorf("unknown includeObject, empty list: err = %v, want BadRequest", err)
	}
}

func TestErrors(t *testing.T) {
	// Not an object with metadata: 406 as upstream.
	_, err := TableConvertor(gr("", "pods")).ConvertToTable(context.Background(), &metav1.Status{}, nil)
	if apierrors.ReasonForError(err) != metav1.StatusReason("NotAcceptable") {
		t.Errorf("Status: err = %v, want NotAcceptable", err)
	}
	// An object of another resource is a programming error, reported as such.
	_, err = TableConvertor(gr("", "pods")).ConvertToTable(context.Background(), &corev1.Node{}, nil)
	if err == nil || apierrors.ReasonForError(err) == metav1.StatusReason("NotAcceptable") {
		t.Errorf("Node as pod: err = %v", err)
	}
}
