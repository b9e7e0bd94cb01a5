package printers

import (
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var deploymentPrinter = printer{
	columns: []metav1.TableColumnDefinition{
		nameColumn,
		column("Ready", "string", "Number of the pod with ready state"),
		column("Up-to-date", "string", appsv1.DeploymentStatus{}.SwaggerDoc()["updatedReplicas"]),
		column("Available", "string", appsv1.DeploymentStatus{}.SwaggerDoc()["availableReplicas"]),
		ageColumn,
		containersColumn,
		imagesColumn,
		wide("Selector", "string", appsv1.DeploymentSpec{}.SwaggerDoc()["selector"]),
	},
	row: rowOf(func(d *appsv1.Deployment, age string) []interface{} {
		selector := "<invalid>"
		if s, err := metav1.LabelSelectorAsSelector(d.Spec.Selector); err == nil {
			selector = s.String()
		}
		names, images := containerCells(d.Spec.Template.Spec.Containers)
		return []interface{}{d.Name, fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, replicas(d.Spec.Replicas)),
			int64(d.Status.UpdatedReplicas), int64(d.Status.AvailableReplicas), age, names, images, selector}
	}),
}

var replicaSetPrinter = printer{
	columns: []metav1.TableColumnDefinition{
		nameColumn,
		column("Desired", "integer", appsv1.ReplicaSetSpec{}.SwaggerDoc()["replicas"]),
		column("Current", "integer", appsv1.ReplicaSetStatus{}.SwaggerDoc()["replicas"]),
		column("Ready", "integer", appsv1.ReplicaSetStatus{}.SwaggerDoc()["readyReplicas"]),
		ageColumn,
		containersColumn,
		imagesColumn,
		wide("Selector", "string", appsv1.ReplicaSetSpec{}.SwaggerDoc()["selector"]),
	},
	row: rowOf(func(rs *appsv1.ReplicaSet, age string) []interface{} {
		names, images := containerCells(rs.Spec.Template.Spec.Containers)
		return []interface{}{rs.Name, int64(replicas(rs.Spec.Replicas)), int64(rs.Status.Replicas), int64(rs.Status.ReadyReplicas),
			age, names, images, metav1.FormatLabelSelector(rs.Spec.Selector)}
	}),
}

var statefulSetPrinter = printer{
	columns: []metav1.TableColumnDefinition{
		nameColumn,
		column("Ready", "string", "Number of the pod with ready state"),
		ageColumn,
		containersColumn,
		imagesColumn,
	},
	row: rowOf(func(s *appsv1.StatefulSet, age string) []interface{} {
		names, images := containerCells(s.Spec.Template.Spec.Containers)
		return []interface{}{s.Name, fmt.Sprintf("%d/%d", s.Status.ReadyReplicas, replicas(s.Spec.Replicas)), age, names, images}
	}),
}

var daemonSetStatusDoc = appsv1.DaemonSetStatus{}.SwaggerDoc()

var daemonSetPrinter = printer{
	columns: []metav1.TableColumnDefinition{
		nameColumn,
		column("Desired", "integer", daemonSetStatusDoc["desiredNumberScheduled"]),
		column("Current", "integer", daemonSetStatusDoc["currentNumberScheduled"]),
		column("Ready", "integer", daemonSetStatusDoc["numberReady"]),
		column("Up-to-date", "integer", daemonSetStatusDoc["updatedNumberScheduled"]),
		column("Available", "integer", daemonSetStatusDoc["numberAvailable"]),
		column("Node Selector", "string", corev1.PodSpec{}.SwaggerDoc()["nodeSelector"]),
		ageColumn,
		containersColumn,
		imagesColumn,
		wide("Selector", "string", appsv1.DaemonSetSpec{}.SwaggerDoc()["selector"]),
	},
	row: rowOf(func(ds *appsv1.DaemonSet, age string) []interface{} {
		st := ds.Status
		names, images := containerCells(ds.Spec.Template.Spec.Containers)
		return []interface{}{ds.Name, int64(st.DesiredNumberScheduled), int64(st.CurrentNumberScheduled), int64(st.NumberReady),
			int64(st.UpdatedNumberScheduled), int64(st.NumberAvailable), labels.FormatLabels(ds.Spec.Template.Spec.NodeSelector),
			age, names, images, metav1.FormatLabelSelector(ds.Spec.Selector)}
	}),
}

var controllerRevisionPrinter = printer{
	columns: []metav1.TableColumnDefinition{
		nameColumn,
		column("Controller", "string", "Controller of the object"),
		column("Revision", "string", appsv1.ControllerRevision{}.SwaggerDoc()["revision"]),
		ageColumn,
	},
	row: rowOf(func(cr *appsv1.ControllerRevision, age string) []interface{} {
		// The controller as kind.group/name, e.g. daemonset.apps/fluentd.
		controller := "<none>"
		if ref := metav1.GetControllerOf(cr); ref != nil {
			controller = ref.Name
			if gv, err := schema.ParseGroupVersion(ref.APIVersion); err == nil {
				if gk := gv.WithKind(ref.Kind).GroupKind(); !gk.Empty() {
					controller = strings.ToLower(gk.String()) + "/" + ref.Name
				}
			}
		}
		return []interface{}{cr.Name, controller, cr.Revision, age}
	}),
}

// replicas is a spec's replica count; unset counts as 0 as upstream prints it.
func replicas(r *int32) int32 {
	if r == nil {
		return 0
	}
	return *r
}
