package integration

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
)

func eventually(t *testing.T, what string, cond func(ctx context.Context) (bool, error)) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, 60*time.Second, true, cond); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func TestNamespaceDeletionRemovesContents(t *testing.T) {
	ctx := context.Background()
	c := clientset(t)
	ns := newNamespace(t, "doomed")
	for _, n := range []string{"a", "b"} {
		if _, err := c.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: n}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "namespace and its contents gone", func(ctx context.Context) (bool, error) {
		_, err := c.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		return apierrors.IsNotFound(err), nil
	})
	list, err := c.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if err != nil || len(list.Items) != 0 {
		t.Fatalf("contents left after the namespace went: %v %v", list, err)
	}
}

func owned(name string, owner *corev1.ConfigMap) *corev1.ConfigMap {
	yes := true
	return &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name, OwnerReferences: []metav1.OwnerReference{{
		APIVersion: "v1", Kind: "ConfigMap", Name: owner.Name, UID: owner.UID, BlockOwnerDeletion: &yes}}}}
}

func TestGarbageCollectionPolicies(t *testing.T) {
	ctx := context.Background()
	c := clientset(t)
	ns := newNamespace(t, "gc")
	cms := c.CoreV1().ConfigMaps(ns)
	mk := func(name string) *corev1.ConfigMap {
		o, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return o
	}
	gone := func(name string) func(ctx context.Context) (bool, error) {
		return func(ctx context.Context) (bool, error) {
			_, err := cms.Get(ctx, name, metav1.GetOptions{})
			return apierrors.IsNotFound(err), nil
		}
	}
	policy := func(p metav1.DeletionPropagation) metav1.DeleteOptions {
		return metav1.DeleteOptions{PropagationPolicy: &p}
	}

	// Background: the owner goes at once, the dependent after it.
	owner := mk("bg-owner")
	if _, err := cms.Create(ctx, owned("bg-child", owner), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(ctx, "bg-owner", policy(metav1.DeletePropagationBackground)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "background: dependent collected", gone("bg-child"))

	// Foreground: the owner waits for its dependents.
	owner = mk("fg-owner")
	if _, err := cms.Create(ctx, owned("fg-child", owner), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(ctx, "fg-owner", policy(metav1.DeletePropagationForeground)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "foreground: dependent collected", gone("fg-child"))
	eventually(t, "foreground: owner removed after its dependent", gone("fg-owner"))

	// Orphan: the dependent stays, without the owner reference.
	owner = mk("or-owner")
	if _, err := cms.Create(ctx, owned("or-child", owner), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := cms.Delete(ctx, "or-owner", policy(metav1.DeletePropagationOrphan)); err != nil {
		t.Fatal(err)
	}
	eventually(t, "orphan: owner removed", gone("or-owner"))
	child, err := cms.Get(ctx, "or-child", metav1.GetOptions{})
	if err != nil || len(child.OwnerReferences) != 0 {
		t.Fatalf("orphan: dependent %v, err %v", child, err)
	}
}

func TestDefaultServiceAccount(t *testing.T) {
	c := clientset(t)
	ns := newNamespace(t, "accounts")
	eventually(t, "default service account created", func(ctx context.Context) (bool, error) {
		_, err := c.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	})
}

// TestDeploymentCreatesReplicaSetAndPods checks the controllers wired into
// the server, without nodes: pods are created and stay Pending.
func TestDeploymentCreatesReplicaSetAndPods(t *testing.T) {
	c := clientset(t)
	ns := newNamespace(t, "deploy")
	replicas := int32(3)
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web"}, Spec: appsv1.DeploymentSpec{
		Replicas: &replicas,
		Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox:1.36"}}}},
	}}
	if _, err := c.AppsV1().Deployments(ns).Create(context.Background(), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "3 pods owned by the deployment's replica set", func(ctx context.Context) (bool, error) {
		pods, err := c.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil || len(pods.Items) != 3 {
			return false, nil
		}
		rs, err := c.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
		return err == nil && len(rs.Items) == 1 && rs.Items[0].Annotations["deployment.kubernetes.io/revision"] == "1", nil
	})
}
