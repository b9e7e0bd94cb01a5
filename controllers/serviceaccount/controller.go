// Package serviceaccount keeps a "default" ServiceAccount in every active
// namespace, as upstream's service-account controller does: pods that name
// no service account use it.
package serviceaccount

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"corral/controllers/worker"
)

// DefaultName is the service account every namespace gets.
const DefaultName = "default"

// Controller queues namespaces and creates their default service account.
type Controller struct {
	client     kubernetes.Interface
	namespaces corelisters.NamespaceLister
	accounts   corelisters.ServiceAccountLister
	synced     []cache.InformerSynced
	queue      workqueue.TypedRateLimitingInterface[string]
}

// NewController watches namespaces (new ones) and service accounts (a
// deleted default one is recreated).
func NewController(client kubernetes.Interface, nsInformer coreinformers.NamespaceInformer, saInformer coreinformers.ServiceAccountInformer) *Controller {
	c := &Controller{
		client:     client,
		namespaces: nsInformer.Lister(),
		accounts:   saInformer.Lister(),
		synced:     []cache.InformerSynced{nsInformer.Informer().HasSynced, saInformer.Informer().HasSynced},
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "serviceaccount"}),
	}
	nsInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj interface{}) { c.enqueue(obj.(*corev1.Namespace).Name) },
		UpdateFunc: func(_, obj interface{}) { c.enqueue(obj.(*corev1.Namespace).Name) },
	})
	saInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		DeleteFunc: func(obj interface{}) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			if sa, ok := obj.(*corev1.ServiceAccount); ok && sa.Name == DefaultName {
				c.enqueue(sa.Namespace)
			}
		},
	})
	return c
}

func (c *Controller) enqueue(ns string) { c.queue.Add(ns) }

// Run works until ctx ends.
func (c *Controller) Run(ctx context.Context, workers int) {
	worker.Run(ctx, "serviceaccount", workers, c.queue, c.synced, worker.Plain(c.sync))
}

// sync creates the default service account of an active namespace.
func (c *Controller) sync(ctx context.Context, name string) error {
	ns, err := c.namespaces.Get(name)
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if ns.Status.Phase != corev1.NamespaceActive || ns.DeletionTimestamp != nil {
		return nil
	}
	if _, err := c.accounts.ServiceAccounts(name).Get(DefaultName); err == nil {
		return nil
	} else if !apierrors.IsNotFound(err) {
		return err
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: DefaultName}}
	_, err = c.client.CoreV1().ServiceAccounts(name).Create(ctx, sa, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) || apierrors.IsForbidden(err) {
		// Already there (our cache lags), or the namespace began terminating.
		return nil
	}
	if err != nil {
		return fmt.Errorf("creating the default service account in %s: %w", name, err)
	}
	return nil
}
