package apiserver

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	storagev1 "k8s.io/api/storage/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	restclient "k8s.io/client-go/rest"

	"corral/controllers/localpath"
	"corral/storage"
)

// bootstrap creates what every cluster has from the start: the default
// namespaces, the kubernetes service with its endpoints, and the system
// priority classes. It is idempotent; every server start runs it.
func bootstrap(ctx context.Context, config *restclient.Config, cfg Config) error {
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		return err
	}
	return wait.PollUntilContextTimeout(ctx, 200*time.Millisecond, time.Minute, true, func(ctx context.Context) (bool, error) {
		if err := bootstrapOnce(ctx, client, cfg); err != nil {
			fmt.Printf("bootstrap: %v (retrying)\n", err)
			return false, nil
		}
		return true, nil
	})
}

func bootstrapOnce(ctx context.Context, client kubernetes.Interface, cfg Config) error {
	for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		_, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	for name, value := range map[string]int32{"system-cluster-critical": 2000000000, "system-node-critical": 2000001000} {
		pc := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: name}, Value: value,
			Description: "Used for system critical pods that must not be moved from their current node."}
		if _, err := client.SchedulingV1().PriorityClasses().Create(ctx, pc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	if err := localPathClass(ctx, client); err != nil {
		return err
	}
	return kubernetesService(ctx, client, cfg)
}

// localPathClass creates the default StorageClass of the built-in
// local-path provisioner when it is absent; a class an administrator
// changed (or made non-default) is left as it is.
func localPathClass(ctx context.Context, client kubernetes.Interface) error {
	mode := storagev1.VolumeBindingWaitForFirstConsumer
	reclaim := corev1.PersistentVolumeReclaimDelete
	sc := &storagev1.StorageClass{
		ObjectMeta: metav1.ObjectMeta{Name: localpath.ClassName,
			Annotations: map[string]string{AnnDefaultStorageClass: "true"}},
		Provisioner:       localpath.Provisioner,
		ReclaimPolicy:     &reclaim,
		VolumeBindingMode: &mode,
	}
	if _, err := client.StorageV1().StorageClasses().Get(ctx, sc.Name, metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		return err
	}
	if _, err := client.StorageV1().StorageClasses().Create(ctx, sc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return err
	}
	return nil
}

// kubernetesService points default/kubernetes at this server, on the
// first address of the service range, as pods expect.
func kubernetesService(ctx context.Context, client kubernetes.Interface, cfg Config) error {
	first := storage.NewIPAllocator(nil, "", cfg.ServiceCIDR)
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default",
			Labels: map[string]string{"component": "apiserver", "provider": "kubernetes"}},
		Spec: corev1.ServiceSpec{
			ClusterIP: first.First(),
			Ports: []corev1.ServicePort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP,
				TargetPort: intstr.FromInt32(int32(cfg.Port))}},
			SessionAffinity: corev1.ServiceAffinityNone,
		},
	}
	if _, err := client.CoreV1().Services("default").Get(ctx, "kubernetes", metav1.GetOptions{}); apierrors.IsNotFound(err) {
		if _, err := client.CoreV1().Services("default").Create(ctx, svc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	} else if err != nil {
		return err
	}
	ep := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: "default",
			Labels: map[string]string{"endpointslice.kubernetes.io/skip-mirror": "true"}},
		Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: cfg.AdvertiseAddress.String()}},
			Ports:     []corev1.EndpointPort{{Name: "https", Port: int32(cfg.Port), Protocol: corev1.ProtocolTCP}},
		}},
	}
	existing, err := client.CoreV1().Endpoints("default").Get(ctx, "kubernetes", metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		_, err = client.CoreV1().Endpoints("default").Create(ctx, ep, metav1.CreateOptions{})
	case err == nil:
		existing.Subsets = ep.Subsets
		_, err = client.CoreV1().Endpoints("default").Update(ctx, existing, metav1.UpdateOptions{})
	}
	return err
}
