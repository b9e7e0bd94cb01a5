package apiserver

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/client-go/informers"
	storagelisters "k8s.io/client-go/listers/storage/v1"
	"k8s.io/klog/v2"
)

// Annotations naming a cluster's default StorageClass.
const (
	AnnDefaultStorageClass     = "storageclass.kubernetes.io/is-default-class"
	annBetaDefaultStorageClass = "storageclass.beta.kubernetes.io/is-default-class"
	// annBetaStorageClass is the class annotation claims had before
	// spec.storageClassName; a claim that has it has chosen.
	annBetaStorageClass = "volume.beta.kubernetes.io/storage-class"
)

// defaultStorageClass is the DefaultStorageClass admission plugin of
// kube-apiserver: a PersistentVolumeClaim created without
// spec.storageClassName gets the default class. An explicit "" means no
// class and is left alone; with several defaults the newest wins, as
// upstream.
type defaultStorageClass struct {
	*admission.Handler
	classes storagelisters.StorageClassLister
}

var _ admission.MutationInterface = (*defaultStorageClass)(nil)

func newDefaultStorageClass(factory informers.SharedInformerFactory) *defaultStorageClass {
	inf := factory.Storage().V1().StorageClasses()
	p := &defaultStorageClass{Handler: admission.NewHandler(admission.Create), classes: inf.Lister()}
	p.SetReadyFunc(inf.Informer().HasSynced)
	return p
}

// Admit sets the claim's class.
func (p *defaultStorageClass) Admit(_ context.Context, a admission.Attributes, _ admission.ObjectInterfaces) error {
	if a.GetResource().GroupResource() != corev1.Resource("persistentvolumeclaims") || a.GetSubresource() != "" {
		return nil
	}
	pvc, ok := a.GetObject().(*corev1.PersistentVolumeClaim)
	if !ok || pvc.Spec.StorageClassName != nil || pvc.Annotations[annBetaStorageClass] != "" {
		return nil
	}
	if !p.WaitForReady() {
		return admission.NewForbidden(a, fmt.Errorf("not yet ready to handle request"))
	}
	class, err := p.defaultClass()
	if err != nil {
		return apierrors.NewInternalError(err)
	}
	if class == nil {
		return nil
	}
	klog.V(4).InfoS("defaulting storage class", "claim", a.GetNamespace()+"/"+pvc.Name, "class", class.Name)
	name := class.Name
	pvc.Spec.StorageClassName = &name
	return nil
}

// defaultClass is the newest class marked default (by name on a tie), or
// nil.
func (p *defaultStorageClass) defaultClass() (*storagev1.StorageClass, error) {
	list, err := p.classes.List(labels.Everything())
	if err != nil {
		return nil, err
	}
	var best *storagev1.StorageClass
	for _, c := range list {
		if c.Annotations[AnnDefaultStorageClass] != "true" && c.Annotations[annBetaDefaultStorageClass] != "true" {
			continue
		}
		switch {
		case best == nil, c.CreationTimestamp.After(best.CreationTimestamp.Time):
			best = c
		case c.CreationTimestamp.Equal(&best.CreationTimestamp) && c.Name < best.Name:
			best = c
		}
	}
	return best, nil
}
