package apiserver

import (
	"context"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/runtime"
)

// daemonSetHooks keep the deprecated template generation annotation as
// upstream's DaemonSet strategy does (it is the v1 form of the internal
// spec.templateGeneration): at least 1 on create, one more whenever
// spec.template changes. The server owns it: updates that drop or edit it
// get the stored value back.
var daemonSetHooks = hooks{
	prepareForCreate: func(_ context.Context, obj runtime.Object) {
		ds := obj.(*appsv1.DaemonSet)
		gen := templateGeneration(ds)
		if gen < 1 {
			gen = 1
		}
		setTemplateGeneration(ds, gen)
	},
	prepareForUpdate: func(_ context.Context, obj, old runtime.Object) {
		ds, oldDS := obj.(*appsv1.DaemonSet), old.(*appsv1.DaemonSet)
		gen := templateGeneration(oldDS)
		if !equality.Semantic.DeepEqual(ds.Spec.Template, oldDS.Spec.Template) {
			gen++
		}
		if gen < 1 {
			// Stored before corral kept the annotation: it starts now.
			gen = 1
		}
		setTemplateGeneration(ds, gen)
	},
	prepareForStatusUpdate: func(_ context.Context, obj, old runtime.Object) {
		ds, oldDS := obj.(*appsv1.DaemonSet), old.(*appsv1.DaemonSet)
		if v, ok := oldDS.Annotations[appsv1.DeprecatedTemplateGeneration]; ok {
			if ds.Annotations == nil {
				ds.Annotations = map[string]string{}
			}
			ds.Annotations[appsv1.DeprecatedTemplateGeneration] = v
		}
	},
}

// templateGeneration reads the annotation; 0 when missing or not a number.
func templateGeneration(ds *appsv1.DaemonSet) int64 {
	gen, err := strconv.ParseInt(ds.Annotations[appsv1.DeprecatedTemplateGeneration], 10, 64)
	if err != nil {
		return 0
	}
	return gen
}

func setTemplateGeneration(ds *appsv1.DaemonSet, gen int64) {
	if ds.Annotations == nil {
		ds.Annotations = map[string]string{}
	}
	ds.Annotations[appsv1.DeprecatedTemplateGeneration] = strconv.FormatInt(gen, 10)
}
