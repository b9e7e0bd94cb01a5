package printers

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/api/meta/table"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	genericapirequest "k8s.io/apiserver/pkg/endpoints/request"
	"k8s.io/apiserver/pkg/registry/rest"
)

// printer is what the registry knows about one resource: its columns and how
// one object becomes the cells of one row.
type printer struct {
	columns []metav1.TableColumnDefinition
	// row returns one cell per column. age is the object's AGE cell.
	row func(obj runtime.Object, age string) ([]interface{}, error)
	// conditions, if set, adds row conditions (upstream marks finished pods
	// as Completed so clients can tell them apart).
	conditions func(obj runtime.Object) []metav1.TableRowCondition
}

// registry maps every resource with upstream columns to its printer. Both
// versions of horizontalpodautoscalers share one entry: its row function
// accepts either version.
var registry = map[schema.GroupResource]printer{
	// core/v1
	{Resource: "pods"}:                   podPrinter,
	{Resource: "podtemplates"}:           podTemplatePrinter,
	{Resource: "namespaces"}:             namespacePrinter,
	{Resource: "services"}:               servicePrinter,
	{Resource: "endpoints"}:              endpointsPrinter,
	{Resource: "configmaps"}:             configMapPrinter,
	{Resource: "secrets"}:                secretPrinter,
	{Resource: "nodes"}:                  nodePrinter,
	{Resource: "events"}:                 eventPrinter,
	{Resource: "serviceaccounts"}:        serviceAccountPrinter,
	{Resource: "persistentvolumes"}:      persistentVolumePrinter,
	{Resource: "persistentvolumeclaims"}: persistentVolumeClaimPrinter,
	{Resource: "resourcequotas"}:         resourceQuotaPrinter,
	{Resource: "limitranges"}:            defaultPrinter, // upstream has no printer either

	// events.k8s.io: upstream prints these through the core Event printer.
	{Group: "events.k8s.io", Resource: "events"}: eventsV1Printer,

	// apps/v1
	{Group: "apps", Resource: "deployments"}:         deploymentPrinter,
	{Group: "apps", Resource: "replicasets"}:         replicaSetPrinter,
	{Group: "apps", Resource: "statefulsets"}:        statefulSetPrinter,
	{Group: "apps", Resource: "daemonsets"}:          daemonSetPrinter,
	{Group: "apps", Resource: "controllerrevisions"}: controllerRevisionPrinter,

	// batch/v1
	{Group: "batch", Resource: "jobs"}:     jobPrinter,
	{Group: "batch", Resource: "cronjobs"}: cronJobPrinter,

	// networking.k8s.io/v1, discovery.k8s.io/v1
	{Group: "networking.k8s.io", Resource: "ingresses"}:       ingressPrinter,
	{Group: "networking.k8s.io", Resource: "ingressclasses"}:  ingressClassPrinter,
	{Group: "networking.k8s.io", Resource: "networkpolicies"}: networkPolicyPrinter,
	{Group: "discovery.k8s.io", Resource: "endpointslices"}:   endpointSlicePrinter,

	// rbac.authorization.k8s.io/v1: upstream prints roles and clusterroles
	// with the default table too.
	{Group: "rbac.authorization.k8s.io", Resource: "roles"}:               defaultPrinter,
	{Group: "rbac.authorization.k8s.io", Resource: "clusterroles"}:        defaultPrinter,
	{Group: "rbac.authorization.k8s.io", Resource: "rolebindings"}:        roleBindingPrinter,
	{Group: "rbac.authorization.k8s.io", Resource: "clusterrolebindings"}: clusterRoleBindingPrinter,

	// the rest
	{Group: "coordination.k8s.io", Resource: "leases"}:           leasePrinter,
	{Group: "autoscaling", Resource: "horizontalpodautoscalers"}: hpaPrinter,
	{Group: "policy", Resource: "poddisruptionbudgets"}:          podDisruptionBudgetPrinter,
	{Group: "scheduling.k8s.io", Resource: "priorityclasses"}:    priorityClassPrinter,
	{Group: "storage.k8s.io", Resource: "storageclasses"}:        storageClassPrinter,
}

// TableConvertor returns the table convertor of a resource: upstream's
// columns for the resources corral knows, NAME and CREATED AT otherwise.
func TableConvertor(gr schema.GroupResource) rest.TableConvertor {
	p, ok := registry[gr]
	if !ok {
		p = defaultPrinter
	}
	return convertor{resource: gr, printer: p}
}

type convertor struct {
	resource schema.GroupResource
	printer  printer
}

var _ rest.TableConvertor = convertor{}

// ConvertToTable converts one object or a list of objects. tableOptions is
// normally a *metav1.TableOptions; anything else means the defaults.
func (c convertor) ConvertToTable(ctx context.Context, object runtime.Object, tableOptions runtime.Object) (*metav1.Table, error) {
	opts, _ := tableOptions.(*metav1.TableOptions)
	if opts == nil {
		opts = &metav1.TableOptions{}
	}
	switch opts.IncludeObject {
	case "", metav1.IncludeMetadata, metav1.IncludeObject, metav1.IncludeNone:
	default:
		return nil, apierrors.NewBadRequest(fmt.Sprintf("unrecognized includeObject value: %q", opts.IncludeObject))
	}

	rowFailed := false
	rows, err := table.MetaToTableRow(object, func(obj runtime.Object, _ metav1.Object, _, age string) ([]interface{}, error) {
		cells, err := c.printer.row(obj, age)
		rowFailed = err != nil
		return cells, err
	})
	if err != nil {
		if rowFailed {
			return nil, err
		}
		// Not an object with metadata, or not a list of them.
		return nil, c.notAcceptable(ctx)
	}

	t := &metav1.Table{Rows: rows}
	if meta.IsListType(object) {
		if lm, err := meta.ListAccessor(object); err == nil {
			t.ResourceVersion = lm.GetResourceVersion()
			t.Continue = lm.GetContinue()
			t.RemainingItemCount = lm.GetRemainingItemCount()
		}
	} else if m, err := meta.CommonAccessor(object); err == nil {
		t.ResourceVersion = m.GetResourceVersion()
	}
	if !opts.NoHeaders {
		// A copy, so no caller can change the shared definitions.
		t.ColumnDefinitions = append([]metav1.TableColumnDefinition(nil), c.printer.columns...)
	}

	// Rows carry the full object: the generic handler reads it and then
	// applies the includeObject policy itself.
	if c.printer.conditions != nil {
		for i := range t.Rows {
			t.Rows[i].Conditions = c.printer.conditions(t.Rows[i].Object.Object)
		}
	}
	return t, nil
}

// notAcceptable is the 406 upstream answers for objects that cannot be
// turned into a table.
func (c convertor) notAcceptable(ctx context.Context) error {
	resource := c.resource
	if info, ok := genericapirequest.RequestInfoFrom(ctx); ok {
		resource = schema.GroupResource{Group: info.APIGroup, Resource: info.Resource}
	}
	return &apierrors.StatusError{ErrStatus: metav1.Status{
		Status:  metav1.StatusFailure,
		Code:    http.StatusNotAcceptable,
		Reason:  metav1.StatusReason("NotAcceptable"),
		Message: fmt.Sprintf("the resource %s does not support being converted to a Table", resource),
	}}
}

// rowOf adapts a typed row function to the registry's untyped one.
func rowOf[T runtime.Object](f func(obj T, age string) []interface{}) func(runtime.Object, string) ([]interface{}, error) {
	return func(obj runtime.Object, age string) ([]interface{}, error) {
		o, ok := obj.(T)
		if !ok {
			var want T
			return nil, fmt.Errorf("printers: cannot print %T, want %T", obj, want)
		}
		return f(o, age), nil
	}
}

// Column definitions. Descriptions come from the API's swagger docs as
// upstream's do.

var objectMetaDoc = metav1.ObjectMeta{}.SwaggerDoc()

var (
	nameColumn = metav1.TableColumnDefinition{Name: "Name", Type: "string", Format: "name", Description: objectMetaDoc["name"]}
	ageColumn  = metav1.TableColumnDefinition{Name: "Age", Type: "string", Description: objectMetaDoc["creationTimestamp"]}
)

func column(name, typ, description string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: typ, Description: description}
}

// wide is a column shown only by -o wide.
func wide(name, typ, description string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: typ, Priority: 1, Description: description}
}

// Columns every workload repeats in -o wide.
var (
	containersColumn = wide("Containers", "string", "Names of each container in the template.")
	imagesColumn     = wide("Images", "string", "Images referenced by each container in the template.")
)

// defaultPrinter is rest.NewDefaultTableConvertor's table, kept here so the
// includeObject and list handling are the same for every resource.
var defaultPrinter = printer{
	columns: []metav1.TableColumnDefinition{
		{Name: "Name", Type: "string", Format: "name", Description: objectMetaDoc["name"]},
		{Name: "Created At", Type: "date", Description: objectMetaDoc["creationTimestamp"]},
	},
	row: func(obj runtime.Object, _ string) ([]interface{}, error) {
		m, err := meta.Accessor(obj)
		if err != nil {
			return nil, err
		}
		return []interface{}{m.GetName(), m.GetCreationTimestamp().Time.UTC().Format(time.RFC3339)}, nil
	},
}

// Cell helpers shared by several resources.

// since is the AGE-style cell of a timestamp.
func since(t metav1.Time) string {
	return table.ConvertToHumanReadableDateType(t)
}

func sinceMicro(t metav1.MicroTime) string {
	return table.ConvertToHumanReadableDateType(metav1.Time(t))
}

// containerCells lays the containers of a template out on one line.
func containerCells(containers []corev1.Container) (names, images string) {
	n := make([]string, len(containers))
	im := make([]string, len(containers))
	for i, c := range containers {
		n[i], im[i] = c.Name, c.Image
	}
	return strings.Join(n, ","), strings.Join(im, ",")
}

func boolPtr(b *bool) string {
	if b == nil {
		return "<unset>"
	}
	if *b {
		return "True"
	}
	return "False"
}

func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}

// listWithMore joins at most max items and says how many were left out.
func listWithMore(list []string, total, max int) string {
	if total > max {
		return fmt.Sprintf("%s + %d more...", strings.Join(list[:max], ","), total-max)
	}
	return strings.Join(list, ",")
}
