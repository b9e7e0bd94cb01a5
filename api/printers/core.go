package printers

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"
)

// Core resources other than pods. Events of events.k8s.io are here too:
// upstream converts them to core Events and prints those.

var podTemplatePrinter = printer{
	columns: []metav1.TableColumnDefinition{
		nameColumn,
		column("Containers", "string", "Names of each container in the template."),
		column("Images", "string", "Images referenced by each container in the template."),
		column("Pod Labels", "string", "The labels for the pod template."),
	},
	row: rowOf(func(o *corev1.PodTemplate, _ string) []interface{} {
		names, images := containerCells(o.Template.Spec.Containers)
		return []interface{}{o.Name, names, images, labels.FormatLabels(o.Template.Labels)}
	}),
}

var namespacePrinter = printer{
	columns: []metav1.TableColumnDefinition{
		nameColumn,
		column("Status", "string", "The status of the namespace"),
		ageColumn,
	},
	row: rowOf(func(o *corev1.Namespace, age string) []interface{} {
		return []interface{}{o.Name, string(o.Status.Phase), age}
	}),
}

var configMapPrinter = printer{
	columns: []metav1.TableColumnDefinition{
		nameColumn,
		column("Data", "string", corev1.ConfigMap{}.SwaggerDoc()["data"]),
		ageColumn,
	},
	row: rowOf(func(o *corev1.ConfigMap, age string) []interface{} {
		return []interface{}{o.Name, int64(len(o.Data) + len(o.BinaryData)), age}
	}),
}

var secretPrinter = printer{
	columns: []metav1.TableColumnDefinition{
		nameColumn,
		column("Type", "string", corev1.Secret{}.SwaggerDoc()["type"]),
		column("Data", "string", corev1.Secret{}.SwaggerDoc()["data"]),
		ageColumn,
	},
	row: rowOf(func(o *corev1.Secret, age string) []interface{} {
		return []interface{}{o.Name, string(o.Type), int64(len(o.Data)), age}
	}),
}

var serviceAccountPrinter = printer{
	columns: []metav1.TableColumnDefinition{
		nameColumn,
		column("Secrets", "string", corev1.ServiceAccount{}.SwaggerDoc()["secrets"]),
		ageColumn,
	},
	row: rowOf(func(o *corev1.ServiceAccount, age string) []interface{} {
		return []interface{}{o.Name, int64(len(o.Secrets)), age}
	}),
}

// Services.

var serviceSpecDoc = corev1.ServiceSpec{}.SwaggerDoc()

var servicePrinter = printer{
	columns: []metav1.TableColumnDefinition{
		nameColumn,
		column("Type", "string", serviceSpecDoc["type"]),
		column("Cluster-IP", "string", serviceSpecDoc["clusterIP"]),
		column("External-IP", "string", serviceSpecDoc["externalIPs"]),
		column("Port(s)", "string", serviceSpecDoc["ports"]),
		ageColumn,
		wide("Selector", "string", serviceSpecDoc["selector"]),
	},
	row: rowOf(serviceRow),
}

func serviceRow(svc *corev1.Service, age string) []interface{} {
	clusterIP := "<none>"
	if len(svc.Spec.ClusterIPs) > 0 {
		clusterIP = svc.Spec.ClusterIPs[0]
	} else if svc.Spec.ClusterIP != "" {
		clusterIP = svc.Spec.ClusterIP
	}
	ports := make([]string, len(svc.Spec.Ports))
	for i, p := range svc.Spec.Ports {
		if p.NodePort > 0 {
			ports[i] = fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, p.Protocol)
		} else {
			ports[i] = fmt.Sprintf("%d/%s", p.Port, p.Protocol)
		}
	}
	return []interface{}{svc.Name, string(svc.Spec.Type), clusterIP, serviceExternalIP(svc),
		orNone(strings.Join(ports, ",")), age, labels.FormatLabels(svc.Spec.Selector)}
}

// serviceExternalIP is the EXTERNAL-IP cell. Server-side tables are always
// wide, so load balancer addresses are never clipped.
func serviceExternalIP(svc *corev1.Service) string {
	switch svc.Spec.Type {
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort:
		return orNone(strings.Join(svc.Spec.ExternalIPs, ","))
	case corev1.ServiceTypeLoadBalancer:
		var ips []string
		if lb := loadBalancerAddresses(svc.Status.LoadBalancer.Ingress); lb != "" {
			ips = append(ips, strings.Split(lb, ",")...)
		}
		ips = append(ips, svc.Spec.ExternalIPs...)
		if len(ips) == 0 {
			return "<pending>"
		}
		return strings.Join(ips, ",")
	case corev1.ServiceTypeExternalName:
		return svc.Spec.ExternalName
	}
	return "<unknown>"
}

func loadBalancerAddresses(ingress []corev1.LoadBalancerIngress) string {
	addrs := sets.New[string]()
	for _, in := range ingress {
		if in.IP != "" {
			addrs.Insert(in.IP)
		} else if in.Hostname != "" {
			addrs.Insert(in.Hostname)
		}
	}
	return strings.Join(sets.List(addrs), ",")
}

var endpointsPrinter = printer{
	columns: []metav1.TableColumnDefinition{
		nameColumn,
		column("Endpoints", "string", corev1.Endpoints{}.SwaggerDoc()["subsets"]),
		ageColumn,
	},
	row: rowOf(func(o *corev1.Endpoints, age string) []interface{} {
		return []interface{}{o.Name, formatEndpoints(o), age}
	}),
}

// formatEndpoints lists the first three address:port pairs.
func formatEndpoints(ep *corev1.Endpoints) string {
	if len(ep.Subsets) == 0 {
		return "<none>"
	}
	const max = 3
	var list []string
	total := 0
	add := func(s string) {
		if len(list) < max {
			list = append(list, s)
		}
		total++
	}
	for _, ss := range ep.Subsets {
		if len(ss.Ports) == 0 {
			// Headless services may have no ports.
			for _, a := range ss.Addresses {
				add(a.IP)
			}
			continue
		}
		for _, p := range ss.Ports {
			for _, a := range ss.Addresses {
				add(net.JoinHostPort(a.IP, strconv.Itoa(int(p.Port))))
			}
		}
	}
	return listWithMore(list, total, max)
}

// Nodes.

const (
	nodeRoleLabelPrefix = "node-role.kubernetes.io/"
	nodeRoleLabel       = "kubernetes.io/role"
)

var nodeInfoDoc = corev1.NodeSystemInfo{}.SwaggerDoc()

var nodePrinter = printer{
	columns: []metav1.TableColumnDefinition{
		nameColumn,
		column("Status", "string", "The status of the node"),
		column("Roles", "string", "The roles of the node"),
		ageColumn,
		column("Version", "string", nodeInfoDoc["kubeletVersion"]),
		wide("Internal-IP", "string", corev1.NodeStatus{}.SwaggerDoc()["addresses"]),
		wide("External-IP", "string", corev1.NodeStatus{}.SwaggerDoc()["addresses"]),
		wide("OS-Image", "string", nodeInfoDoc["osImage"]),
		wide("Kernel-Version", "string", nodeInfoDoc["kernelVersion"]),
		wide("Container-Runtime", "string", nodeInfoDoc["containerRuntimeVersion"]),
	},
	row: rowOf(nodeRow),
}

func nodeRow(node *corev1.Node, age string) []interface{} {
	status := "Unknown"
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			if c.Status == corev1.ConditionTrue {
				status = "Ready"
			} else {
				status = "NotReady"
			}
		}
	}
	if node.Spec.Unschedulable {
		status += ",SchedulingDisabled"
	}

	roles := sets.New[string]()
	for k, v := range node.Labels {
		switch {
		case strings.HasPrefix(k, nodeRoleLabelPrefix):
			if role := strings.TrimPrefix(k, nodeRoleLabelPrefix); role != "" {
				roles.Insert(role)
			}
		case k == nodeRoleLabel && v != "":
			roles.Insert(v)
		}
	}

	info := node.Status.NodeInfo
	unknown := func(s string) string {
		if s == "" {
			return "<unknown>"
		}
		return s
	}
	return []interface{}{node.Name, status, orNone(strings.Join(sets.List(roles), ",")), age, info.KubeletVersion,
		nodeAddress(node, corev1.NodeInternalIP), nodeAddress(node, corev1.NodeExternalIP),
		unknown(info.OSImage), unknown(info.KernelVersion), unknown(info.ContainerRuntimeVersion)}
}

func nodeAddress(node *corev1.Node, t corev1.NodeAddressType) string {
	for _, a := range node.Status.Addresses {
		if a.Type == t {
			return a.Address
		}
	}
	return "<none>"
}

// Events.

var eventDoc = corev1.Event{}.SwaggerDoc()

var eventColumns = []metav1.TableColumnDefinition{
	column("Last Seen", "string", eventDoc["lastTimestamp"]),
	column("Type", "string", eventDoc["type"]),
	column("Reason", "string", eventDoc["reason"]),
	column("Object", "string", eventDoc["involvedObject"]),
	wide("Subobject", "string", corev1.ObjectReference{}.SwaggerDoc()["fieldPath"]),
	wide("Source", "string", eventDoc["source"]),
	column("Message", "string", eventDoc["message"]),
	wide("First Seen", "string", eventDoc["firstTimestamp"]),
	wide("Count", "string", eventDoc["count"]),
	{Name: "Name", Type: "string", Format: "name", Priority: 1, Description: objectMetaDoc["name"]},
}

var eventPrinter = printer{columns: eventColumns, row: rowOf(eventRow)}

var eventsV1Printer = printer{
	columns: eventColumns,
	row: rowOf(func(e *eventsv1.Event, age string) []interface{} {
		return eventRow(coreEvent(e), age)
	}),
}

func eventRow(e *corev1.Event, _ string) []interface{} {
	first := since(e.FirstTimestamp)
	if e.FirstTimestamp.IsZero() {
		first = sinceMicro(e.EventTime)
	}
	last := since(e.LastTimestamp)
	if e.LastTimestamp.IsZero() {
		last = first
	}
	count := e.Count
	if e.Series != nil {
		last = sinceMicro(e.Series.LastObservedTime)
		count = e.Series.Count
	} else if count == 0 {
		// Singleton events of the new API have no count.
		count = 1
	}

	target := strings.ToLower(e.InvolvedObject.Kind)
	if e.InvolvedObject.Name != "" {
		target += "/" + e.InvolvedObject.Name
	}
	component := firstNonEmpty(e.Source.Component, e.ReportingController)
	source := component
	if instance := firstNonEmpty(e.Source.Host, e.ReportingInstance); instance != "" {
		source = component + ", " + instance
	}
	return []interface{}{last, e.Type, e.Reason, target, e.InvolvedObject.FieldPath, source,
		strings.TrimSpace(e.Message), first, int64(count), e.Name}
}

// coreEvent is the core/v1 view of an events.k8s.io/v1 Event, field for
// field as the API server converts between them.
func coreEvent(e *eventsv1.Event) *corev1.Event {
	out := &corev1.Event{
		ObjectMeta:          e.ObjectMeta,
		InvolvedObject:      e.Regarding,
		Reason:              e.Reason,
		Message:             e.Note,
		Source:              e.DeprecatedSource,
		FirstTimestamp:      e.DeprecatedFirstTimestamp,
		LastTimestamp:       e.DeprecatedLastTimestamp,
		Count:               e.DeprecatedCount,
		Type:                e.Type,
		EventTime:           e.EventTime,
		Action:              e.Action,
		Related:             e.Related,
		ReportingController: e.ReportingController,
		ReportingInstance:   e.ReportingInstance,
	}
	if e.Series != nil {
		out.Series = &corev1.EventSeries{Count: e.Series.Count, LastObservedTime: e.Series.LastObservedTime}
	}
	return out
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}

// Storage.

var (
	pvSpecDoc    = corev1.PersistentVolumeSpec{}.SwaggerDoc()
	pvcSpecDoc   = corev1.PersistentVolumeClaimSpec{}.SwaggerDoc()
	pvcStatusDoc = corev1.PersistentVolumeClaimStatus{}.SwaggerDoc()
)

var persistentVolumePrinter = printer{
	columns: []metav1.TableColumnDefinition{
		nameColumn,
		column("Capacity", "string", pvSpecDoc["capacity"]),
		column("Access Modes", "string", pvSpecDoc["accessModes"]),
		column("Reclaim Policy", "string", pvSpecDoc["persistentVolumeReclaimPolicy"]),
		column("Status", "string", corev1.PersistentVolumeStatus{}.SwaggerDoc()["phase"]),
		column("Claim", "string", pvSpecDoc["claimRef"]),
		column("StorageClass", "string", "StorageClass of the pv"),
		column("VolumeAttributesClass", "string", "VolumeAttributesClass of the pv"),
		column("Reason", "string", corev1.PersistentVolumeStatus{}.SwaggerDoc()["reason"]),
		ageColumn,
		wide("VolumeMode", "string", pvSpecDoc["volumeMode"]),
	},
	row: rowOf(func(pv *corev1.PersistentVolume, age string) []interface{} {
		claim := ""
		if pv.Spec.ClaimRef != nil {
			claim = pv.Spec.ClaimRef.Namespace + "/" + pv.Spec.ClaimRef.Name
		}
		phase := string(pv.Status.Phase)
		if pv.DeletionTimestamp != nil {
			phase = "Terminating"
		}
		capacity := pv.Spec.Capacity[corev1.ResourceStorage]
		class := pv.Spec.StorageClassName
		if a, ok := pv.Annotations[corev1.BetaStorageClassAnnotation]; ok {
			class = a
		}
		return []interface{}{pv.Name, capacity.String(), accessModes(pv.Spec.AccessModes), string(pv.Spec.PersistentVolumeReclaimPolicy),
			phase, claim, class, unsetOr(pv.Spec.VolumeAttributesClassName), pv.Status.Reason, age, volumeMode(pv.Spec.VolumeMode)}
	}),
}

var persistentVolumeClaimPrinter = printer{
	columns: []metav1.TableColumnDefinition{
		nameColumn,
		column("Status", "string", pvcStatusDoc["phase"]),
		column("Volume", "string", pvcSpecDoc["volumeName"]),
		column("Capacity", "string", pvcStatusDoc["capacity"]),
		column("Access Modes", "string", pvcStatusDoc["accessModes"]),
		column("StorageClass", "string", "StorageClass of the pvc"),
		column("VolumeAttributesClass", "string", "VolumeAttributesClass of the pvc"),
		ageColumn,
		wide("VolumeMode", "string", pvcSpecDoc["volumeMode"]),
	},
	row: rowOf(func(pvc *corev1.PersistentVolumeClaim, age string) []interface{} {
		phase := string(pvc.Status.Phase)
		if pvc.DeletionTimestamp != nil {
			phase = "Terminating"
		}
		// Capacity and modes are the bound volume's, so only shown once bound.
		capacity, modes := "", ""
		if pvc.Spec.VolumeName != "" {
			q := pvc.Status.Capacity[corev1.ResourceStorage]
			capacity, modes = q.String(), accessModes(pvc.Status.AccessModes)
		}
		class := ""
		if a, ok := pvc.Annotations[corev1.BetaStorageClassAnnotation]; ok {
			class = a
		} else if pvc.Spec.StorageClassName != nil {
			class = *pvc.Spec.StorageClassName
		}
		return []interface{}{pvc.Name, phase, pvc.Spec.VolumeName, capacity, modes, class,
			unsetOr(pvc.Spec.VolumeAttributesClassName), age, volumeMode(pvc.Spec.VolumeMode)}
	}),
}

// accessModes abbreviates access modes as kubectl does (RWO,ROX,RWX,RWOP).
func accessModes(modes []corev1.PersistentVolumeAccessMode) string {
	has := sets.New(modes...)
	var out []string
	for _, m := range []struct {
		mode  corev1.PersistentVolumeAccessMode
		short string
	}{
		{corev1.ReadWriteOnce, "RWO"},
		{corev1.ReadOnlyMany, "ROX"},
		{corev1.ReadWriteMany, "RWX"},
		{corev1.ReadWriteOncePod, "RWOP"},
	} {
		if has.Has(m.mode) {
			out = append(out, m.short)
		}
	}
	return strings.Join(out, ",")
}

func volumeMode(m *corev1.PersistentVolumeMode) string {
	if m == nil {
		return "<unset>"
	}
	return string(*m)
}

func unsetOr(s *string) string {
	if s == nil {
		return "<unset>"
	}
	return *s
}

// Quotas.

var resourceQuotaPrinter = printer{
	columns: []metav1.TableColumnDefinition{
		nameColumn,
		column("Request", "string", "Request represents a minimum amount of cpu/memory that a container may consume."),
		column("Limit", "string", "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node."),
		ageColumn,
	},
	row: rowOf(func(q *corev1.ResourceQuota, age string) []interface{} {
		names := make([]string, 0, len(q.Status.Hard))
		for name := range q.Status.Hard {
			names = append(names, string(name))
		}
		sort.Strings(names)
		var requests, limits []string
		for _, name := range names {
			used, hard := q.Status.Used[corev1.ResourceName(name)], q.Status.Hard[corev1.ResourceName(name)]
			s := fmt.Sprintf("%s: %s/%s", name, used.String(), hard.String())
			if strings.HasPrefix(name, "limits.") {
				limits = append(limits, s)
			} else {
				requests = append(requests, s)
			}
		}
		return []interface{}{q.Name, strings.Join(requests, ", "), strings.Join(limits, ", "), age}
	}),
}
