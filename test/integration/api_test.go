package integration

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	restclient "k8s.io/client-go/rest"
)

// rawRequest sends a request with the admin credentials and returns the
// status code and the decoded Status (when the body is one).
func rawRequest(t *testing.T, method, path, contentType string, body []byte) (int, metav1.Status) {
	t.Helper()
	transport, err := restclient.TransportFor(shared.Config)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(method, shared.URL+path, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := (&http.Client{Transport: transport, Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var st metav1.Status
	_ = json.Unmarshal(data, &st)
	return resp.StatusCode, st
}

func TestBadInputGetsStatusAndWritesNothing(t *testing.T) {
	ns := newNamespace(t, "badinput")
	base := "/api/v1/namespaces/" + ns + "/configmaps"
	big := `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"big"},"data":{"k":"` + strings.Repeat("x", 4<<20) + `"}}`
	cases := []struct {
		name, contentType, body string
		code                    int
	}{
		{"malformed JSON", "application/json", `{"apiVersion":"v1","kind":"ConfigMap",`, 400},
		{"malformed YAML", "application/yaml", "apiVersion: v1\nkind: ConfigMap\nmetadata: [unclosed\n", 400},
		{"garbage protobuf", "application/vnd.kubernetes.protobuf", "k8s\x00\x0a\x02garbage", 400},
		{"wrong kind for the path", "application/json", `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"}}`, 400},
		{"wrong apiVersion for the path", "application/json", `{"apiVersion":"apps/v1","kind":"ConfigMap","metadata":{"name":"c"}}`, 400},
		{"unknown kind", "application/json", `{"apiVersion":"v1","kind":"Gizmo","metadata":{"name":"g"}}`, 400},
		{"unsupported media type", "text/plain", `hello`, 415},
		{"oversized body", "application/json", big, 413},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, st := rawRequest(t, "POST", base, c.contentType, []byte(c.body))
			if code != c.code {
				t.Fatalf("status %d (%s), want %d", code, st.Message, c.code)
			}
			if st.Kind != "Status" || st.Status != metav1.StatusFailure || st.Message == "" {
				t.Fatalf("body is not a failure Status: %+v", st)
			}
		})
	}
	list, err := clientset(t).CoreV1().ConfigMaps(ns).List(context.Background(), metav1.ListOptions{FieldSelector: ownConfigMaps})
	if err != nil || len(list.Items) != 0 {
		t.Fatalf("bad input wrote objects: %v %v", list, err)
	}
	// Strict field validation refuses unknown fields with 400 and names them.
	code, st := rawRequest(t, "POST", base+"?fieldValidation=Strict", "application/json",
		[]byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"c"},"spec":{"foo":1}}`))
	if code != 400 || !strings.Contains(st.Message, `unknown field "spec"`) {
		t.Fatalf("strict validation: %d %q", code, st.Message)
	}
	// An invalid name is 422 Invalid with the field named.
	code, st = rawRequest(t, "POST", base, "application/json", []byte(`{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"Not_A_Name"}}`))
	if code != 422 || st.Reason != metav1.StatusReasonInvalid || st.Details == nil || len(st.Details.Causes) == 0 || st.Details.Causes[0].Field != "metadata.name" {
		t.Fatalf("invalid name: %d %+v", code, st)
	}
}

func TestUnauthenticatedIs401(t *testing.T) {
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: 10 * time.Second}
	for _, token := range []string{"", "wrong-token"} {
		req, _ := http.NewRequest("GET", shared.URL+"/api/v1/namespaces", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 401 {
			t.Fatalf("token %q: status %d, want 401", token, resp.StatusCode)
		}
	}
}

func TestDryRunWritesNothing(t *testing.T) {
	ctx := context.Background()
	c := clientset(t)
	ns := newNamespace(t, "dryrun")
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "dry"}}
	out, err := c.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil || out.Name != "dry" {
		t.Fatalf("dry-run create: %v %v", out, err)
	}
	if _, err := c.CoreV1().ConfigMaps(ns).Get(ctx, "dry", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("dry-run create persisted: %v", err)
	}
}

func TestNamespaceLifecycleAdmission(t *testing.T) {
	ctx := context.Background()
	c := clientset(t)
	_, err := c.CoreV1().ConfigMaps("does-not-exist").Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{})
	if !apierrors.IsNotFound(err) {
		t.Fatalf("create in a missing namespace: want NotFound, got %v", err)
	}
	ns := newNamespace(t, "terminating")
	if _, err := c.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "keep"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.CoreV1().Namespaces().Delete(ctx, ns, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := c.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
	if err == nil && (got.Status.Phase != corev1.NamespaceTerminating || got.DeletionTimestamp == nil) {
		t.Fatalf("deleted namespace: phase %q, deletionTimestamp %v", got.Status.Phase, got.DeletionTimestamp)
	}
	if err == nil {
		_, err = c.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "late"}}, metav1.CreateOptions{})
		if !apierrors.IsForbidden(err) {
			t.Fatalf("create in a terminating namespace: want Forbidden, got %v", err)
		}
	}
}

func TestServiceAllocations(t *testing.T) {
	ctx := context.Background()
	c := clientset(t)
	ns := newNamespace(t, "services")
	svc := func(name string, nodePort int32) *corev1.Service {
		return &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeNodePort,
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Port: 80, NodePort: nodePort, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(8080)}},
		}}
	}
	a, err := c.CoreV1().Services(ns).Create(ctx, svc("a", 0), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.CoreV1().Services(ns).Create(ctx, svc("b", 0), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if a.Spec.ClusterIP == "" || a.Spec.ClusterIP == b.Spec.ClusterIP || !strings.HasPrefix(a.Spec.ClusterIP, "10.43.") {
		t.Fatalf("cluster IPs %q and %q", a.Spec.ClusterIP, b.Spec.ClusterIP)
	}
	port := a.Spec.Ports[0].NodePort
	if port < 30000 || port > 32767 || port == b.Spec.Ports[0].NodePort {
		t.Fatalf("node ports %d and %d", port, b.Spec.Ports[0].NodePort)
	}
	_, err = c.CoreV1().Services(ns).Create(ctx, svc("c", port), metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "already allocated") {
		t.Fatalf("taken node port: want Invalid ... already allocated, got %v", err)
	}
	if _, err := c.CoreV1().Services(ns).Get(ctx, "c", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("failed create left a service behind: %v", err)
	}
	// Updating without the allocated values keeps them.
	a.Spec.ClusterIP, a.Spec.ClusterIPs, a.Spec.Ports[0].NodePort = "", nil, 0
	a2, err := c.CoreV1().Services(ns).Update(ctx, a, metav1.UpdateOptions{})
	if err != nil || a2.Spec.ClusterIP != b.Spec.ClusterIP && a2.Spec.Ports[0].NodePort != port {
		if err != nil {
			t.Fatal(err)
		}
	}
	if a2.Spec.Ports[0].NodePort != port {
		t.Fatalf("update dropped the node port: %d, want %d", a2.Spec.Ports[0].NodePort, port)
	}
	// Deleting releases: the port can be taken again.
	if err := c.CoreV1().Services(ns).Delete(ctx, "a", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().Services(ns).Create(ctx, svc("d", port), metav1.CreateOptions{}); err != nil {
		t.Fatalf("node port not released on delete: %v", err)
	}
}

func TestBindingAndGracefulDeletion(t *testing.T) {
	ctx := context.Background()
	c := clientset(t)
	ns := newNamespace(t, "binding")
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	if _, err := c.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	bind := &corev1.Binding{ObjectMeta: metav1.ObjectMeta{Name: "p"}, Target: corev1.ObjectReference{Kind: "Node", Name: "node-1"}}
	if err := c.CoreV1().Pods(ns).Bind(ctx, bind, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.CoreV1().Pods(ns).Bind(ctx, bind, metav1.CreateOptions{}); !apierrors.IsConflict(err) {
		t.Fatalf("second bind: want Conflict, got %v", err)
	}
	got, err := c.CoreV1().Pods(ns).Get(ctx, "p", metav1.GetOptions{})
	if err != nil || got.Spec.NodeName != "node-1" {
		t.Fatalf("after bind: %v %v", got.Spec.NodeName, err)
	}
	// A bound pod is deleted gracefully: it stays, with a deletion timestamp, until its node confirms.
	if err := c.CoreV1().Pods(ns).Delete(ctx, "p", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err = c.CoreV1().Pods(ns).Get(ctx, "p", metav1.GetOptions{})
	if err != nil || got.DeletionTimestamp == nil || got.DeletionGracePeriodSeconds == nil {
		t.Fatalf("graceful delete: %v %v", got, err)
	}
	zero := int64(0)
	if err := c.CoreV1().Pods(ns).Delete(ctx, "p", metav1.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().Pods(ns).Get(ctx, "p", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("after forced delete: %v", err)
	}
	// An unscheduled pod goes at once.
	pod.Name = "q"
	if _, err := c.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := c.CoreV1().Pods(ns).Delete(ctx, "q", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().Pods(ns).Get(ctx, "q", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("unscheduled pod not removed at once: %v", err)
	}
}

func TestEvictionRespectsDisruptionBudget(t *testing.T) {
	ctx := context.Background()
	c := clientset(t)
	ns := newNamespace(t, "eviction")
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Labels: map[string]string{"app": "x"}},
		Spec: corev1.PodSpec{NodeName: "n", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}
	created, err := c.CoreV1().Pods(ns).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	created.Status.Phase = corev1.PodRunning
	if _, err := c.CoreV1().Pods(ns).UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	one := intstr.FromInt32(1)
	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "b"},
		Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: &one, Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "x"}}}}
	if _, err := c.PolicyV1().PodDisruptionBudgets(ns).Create(ctx, pdb, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ev := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: ns}}
	err = c.CoreV1().Pods(ns).EvictV1(ctx, ev)
	if !apierrors.IsTooManyRequests(err) {
		t.Fatalf("eviction against an exhausted budget: want 429, got %v", err)
	}
}

func TestWatchBookmarksAndWatchList(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := clientset(t)
	ns := newNamespace(t, "watchlist")
	for _, n := range []string{"a", "b", "c"} {
		if _, err := c.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: n}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	yes := true
	w, err := c.CoreV1().ConfigMaps(ns).Watch(ctx, metav1.ListOptions{
		SendInitialEvents: &yes, AllowWatchBookmarks: true,
		ResourceVersionMatch: metav1.ResourceVersionMatchNotOlderThan,
		FieldSelector:        ownConfigMaps,
	})
	if err != nil {
		t.Fatalf("watch-list refused: %v", err)
	}
	defer w.Stop()
	added := 0
	for {
		select {
		case ev := <-w.ResultChan():
			switch ev.Type {
			case watch.Added:
				added++
			case watch.Bookmark:
				m := ev.Object.(metav1.Object)
				if m.GetAnnotations()[metav1.InitialEventsAnnotationKey] == "true" {
					if added != 3 {
						t.Fatalf("initial-events bookmark after %d objects, want 3", added)
					}
					return
				}
			case watch.Error:
				t.Fatalf("watch error: %v", apierrors.FromObject(ev.Object))
			}
		case <-ctx.Done():
			t.Fatalf("no initial-events-end bookmark (saw %d objects)", added)
		}
	}
}

func TestWatchFromCompactedRevisionIsGone(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := clientset(t)
	w, err := c.CoreV1().ConfigMaps("default").Watch(ctx, metav1.ListOptions{ResourceVersion: "1"})
	if err != nil {
		if !apierrors.IsGone(err) && !apierrors.IsResourceExpired(err) {
			t.Fatalf("watch from rv 1: want 410, got %v", err)
		}
		return
	}
	defer w.Stop()
	// The watch cache answers with an ERROR event carrying 410 when the
	// revision is older than its window; otherwise the watch is valid.
	select {
	case ev := <-w.ResultChan():
		if ev.Type == watch.Error {
			if st := apierrors.FromObject(ev.Object); !apierrors.IsGone(st) && !apierrors.IsResourceExpired(st) {
				t.Fatalf("watch error is not 410: %v", st)
			}
		}
	case <-time.After(2 * time.Second):
	}
}
