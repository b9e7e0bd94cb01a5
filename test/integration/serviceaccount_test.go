package integration

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	restclient "k8s.io/client-go/rest"
)

// saNamespace makes a namespace for one test and waits for what the
// controllers put in it: the default ServiceAccount and kube-root-ca.crt.
func saNamespace(t *testing.T, c kubernetes.Interface) (string, *corev1.ServiceAccount) {
	t.Helper()
	ctx := context.Background()
	ns := "sa-" + rand.String(6)
	if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{}) })
	var sa *corev1.ServiceAccount
	if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		var err error
		sa, err = c.CoreV1().ServiceAccounts(ns).Get(ctx, "default", metav1.GetOptions{})
		return err == nil, nil
	}); err != nil {
		t.Fatalf("no default service account in %s: %v", ns, err)
	}
	return ns, sa
}

// bearerClient talks to the shared server with only a bearer token.
func bearerClient(t *testing.T, token string) *kubernetes.Clientset {
	t.Helper()
	cfg := &restclient.Config{Host: shared.URL, BearerToken: token,
		TLSClientConfig: restclient.TLSClientConfig{CAFile: filepath.Join(shared.DataDir, "tls", "ca.crt")}}
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// jwtClaims decodes a token's payload.
func jwtClaims(t *testing.T, token string) map[string]any {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %.40q", token)
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func whoami(t *testing.T, token string) (*authenticationv1.SelfSubjectReview, error) {
	t.Helper()
	return bearerClient(t, token).AuthenticationV1().SelfSubjectReviews().Create(context.Background(), &authenticationv1.SelfSubjectReview{}, metav1.CreateOptions{})
}

func TestServiceAccountTokenRequest(t *testing.T) {
	ctx := context.Background()
	c := clientset(t)
	ns, sa := saNamespace(t, c)

	// The root CA is published in the new namespace.
	ca, err := os.ReadFile(filepath.Join(shared.DataDir, "tls", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		cm, err := c.CoreV1().ConfigMaps(ns).Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
		return err == nil && cm.Data["ca.crt"] == string(ca), nil
	}); err != nil {
		t.Fatalf("kube-root-ca.crt with the cluster CA did not appear in %s: %v", ns, err)
	}

	tr, err := c.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "default", &authenticationv1.TokenRequest{}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	claims := jwtClaims(t, tr.Status.Token)
	if claims["sub"] != "system:serviceaccount:"+ns+":default" || claims["iss"] != "https://kubernetes.default.svc.cluster.local" {
		t.Errorf("claims %v", claims)
	}
	if exp, iat := claims["exp"].(float64), claims["iat"].(float64); exp-iat != 3600 {
		t.Errorf("default lifetime %v s", exp-iat)
	}
	if d := time.Until(tr.Status.ExpirationTimestamp.Time); d < 59*time.Minute || d > 61*time.Minute {
		t.Errorf("expirationTimestamp in %v", d)
	}
	if a := tr.Spec.Audiences; len(a) != 2 || a[0] != "https://kubernetes.default.svc.cluster.local" || a[1] != "corral" {
		t.Errorf("default audiences %v", a)
	}

	// The token authenticates: SelfSubjectReview names the account; other
	// requests are refused as forbidden (authorization is later work), not
	// unauthorized.
	review, err := whoami(t, tr.Status.Token)
	if err != nil {
		t.Fatal(err)
	}
	u := review.Status.UserInfo
	groups := strings.Join(u.Groups, ",")
	if u.Username != "system:serviceaccount:"+ns+":default" || u.UID != string(sa.UID) ||
		!strings.Contains(groups, "system:serviceaccounts,system:serviceaccounts:"+ns) || !strings.Contains(groups, "system:authenticated") {
		t.Errorf("user %+v", u)
	}
	if _, err := bearerClient(t, tr.Status.Token).CoreV1().Pods(ns).List(ctx, metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Errorf("listing pods with the token: %v, want 403", err)
	}
	if out, err := exec.Command("kubectl", "--kubeconfig=/dev/null", "--server="+shared.URL, "--certificate-authority="+filepath.Join(shared.DataDir, "tls", "ca.crt"),
		"--token="+tr.Status.Token, "auth", "whoami").CombinedOutput(); err != nil || !strings.Contains(string(out), "system:serviceaccount:"+ns+":default") {
		t.Errorf("kubectl auth whoami: %v\n%s", err, out)
	}

	// A token for another audience is not accepted by the API server, but
	// a TokenReview for that audience accepts it.
	vault, err := c.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "default", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{Audiences: []string{"vault"}, ExpirationSeconds: ptr(int64(600))}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := whoami(t, vault.Status.Token); !apierrors.IsUnauthorized(err) {
		t.Errorf("vault token against the API: %v, want 401", err)
	}
	rv, err := c.AuthenticationV1().TokenReviews().Create(ctx, &authenticationv1.TokenReview{Spec: authenticationv1.TokenReviewSpec{
		Token: vault.Status.Token, Audiences: []string{"vault"}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !rv.Status.Authenticated || rv.Status.User.Username != "system:serviceaccount:"+ns+":default" || len(rv.Status.Audiences) != 1 || rv.Status.Audiences[0] != "vault" {
		t.Errorf("TokenReview %+v", rv.Status)
	}
	if _, err := whoami(t, "not-a-token"); !apierrors.IsUnauthorized(err) {
		t.Errorf("junk token: %v, want 401", err)
	}
}

func TestServiceAccountBoundTokens(t *testing.T) {
	ctx := context.Background()
	c := clientset(t)
	ns, _ := saNamespace(t, c)
	pod, err := c.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "bound"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ref := &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID}
	tr, err := c.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "default", &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{BoundObjectRef: ref}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	k8s, _ := jwtClaims(t, tr.Status.Token)["kubernetes.io"].(map[string]any)
	if p, _ := k8s["pod"].(map[string]any); p["name"] != "bound" || p["uid"] != string(pod.UID) {
		t.Errorf("pod claims %v", k8s)
	}
	review, err := whoami(t, tr.Status.Token)
	if err != nil {
		t.Fatal(err)
	}
	if x := review.Status.UserInfo.Extra["authentication.kubernetes.io/pod-uid"]; len(x) != 1 || x[0] != string(pod.UID) {
		t.Errorf("extra %v", review.Status.UserInfo.Extra)
	}
	// The pod is not scheduled, so it goes at once; its tokens with it.
	if err := c.CoreV1().Pods(ns).Delete(ctx, pod.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		_, err := whoami(t, tr.Status.Token)
		return apierrors.IsUnauthorized(err), nil
	}); err != nil {
		t.Error("the token of a deleted pod still authenticates")
	}

	// Secret-bound tokens die with the secret.
	secret, err := c.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := c.CoreV1().ServiceAccounts(ns).CreateToken(ctx, "default", &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		BoundObjectRef: &authenticationv1.BoundObjectReference{Kind: "Secret", APIVersion: "v1", Name: "s", UID: secret.UID}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := whoami(t, st.Status.Token); err != nil {
		t.Fatalf("secret-bound token: %v", err)
	}
	if err := c.CoreV1().Secrets(ns).Delete(ctx, "s", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		_, err := whoami(t, st.Status.Token)
		return apierrors.IsUnauthorized(err), nil
	}); err != nil {
		t.Error("the token of a deleted secret still authenticates")
	}
}

func TestServiceAccountTokenRequestErrors(t *testing.T) {
	ctx := context.Background()
	c := clientset(t)
	ns, _ := saNamespace(t, c)
	pod, err := c.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "busybox"}}}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "robot"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	podRef := func(mut func(*authenticationv1.BoundObjectReference)) *authenticationv1.BoundObjectReference {
		r := &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID}
		if mut != nil {
			mut(r)
		}
		return r
	}
	cases := []struct {
		name string
		sa   string
		req  authenticationv1.TokenRequest
		code int32
		msg  string
	}{
		{"missing service account", "nobody", authenticationv1.TokenRequest{}, 404, `serviceaccounts "nobody" not found`},
		{"too short", "default", authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr(int64(100))}},
			422, "may not specify a duration less than 10 minutes"},
		{"name mismatch", "default", authenticationv1.TokenRequest{ObjectMeta: metav1.ObjectMeta{Name: "other"}}, 422, "must match the service account name"},
		{"unsupported kind", "default", authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{BoundObjectRef: &authenticationv1.BoundObjectReference{
			Kind: "Deployment", APIVersion: "apps/v1", Name: "d"}}}, 400, "cannot bind token to object of type apps/v1, Kind=Deployment"},
		{"missing pod", "default", authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
			BoundObjectRef: podRef(func(r *authenticationv1.BoundObjectReference) { r.Name, r.UID = "gone", "" })}}, 404, `pods "gone" not found`},
		{"pod UID mismatch", "default", authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
			BoundObjectRef: podRef(func(r *authenticationv1.BoundObjectReference) { r.UID = "stale" })}}, 409, "does not match the UID in record"},
		{"pod of another account", "robot", authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{BoundObjectRef: podRef(nil)}},
			400, `cannot bind token for serviceaccount "robot" to pod running with different serviceaccount name`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			req := tc.req
			_, err := c.CoreV1().ServiceAccounts(ns).CreateToken(ctx, tc.sa, &req, metav1.CreateOptions{})
			st, ok := err.(apierrors.APIStatus)
			if !ok {
				t.Fatalf("err %v, want a Status", err)
			}
			if s := st.Status(); s.Code != tc.code || !strings.Contains(s.Message, tc.msg) {
				t.Fatalf("Status %d %q, want %d with %q", s.Code, s.Message, tc.code, tc.msg)
			}
		})
	}
}

var apiAccessVolume = regexp.MustCompile(`^kube-api-access-[a-z0-9]{5}$`)

func TestServiceAccountAdmission(t *testing.T) {
	ctx := context.Background()
	c := clientset(t)
	ns, _ := saNamespace(t, c)
	create := func(name string, mut func(*corev1.Pod)) (*corev1.Pod, error) {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}, Spec: corev1.PodSpec{
			InitContainers: []corev1.Container{{Name: "init", Image: "busybox"}},
			Containers:     []corev1.Container{{Name: "a", Image: "busybox"}, {Name: "b", Image: "busybox"}}}}
		if mut != nil {
			mut(p)
		}
		return c.CoreV1().Pods(ns).Create(ctx, p, metav1.CreateOptions{})
	}
	tokenVolume := func(p *corev1.Pod) *corev1.Volume {
		for i, v := range p.Spec.Volumes {
			if strings.HasPrefix(v.Name, "kube-api-access-") {
				return &p.Spec.Volumes[i]
			}
		}
		return nil
	}

	p, err := create("auto", nil)
	if err != nil {
		t.Fatal(err)
	}
	v := tokenVolume(p)
	if p.Spec.ServiceAccountName != "default" || v == nil || !apiAccessVolume.MatchString(v.Name) {
		t.Fatalf("serviceAccountName %q, volumes %+v", p.Spec.ServiceAccountName, p.Spec.Volumes)
	}
	src := v.Projected.Sources
	if len(src) != 3 || src[0].ServiceAccountToken == nil || src[0].ServiceAccountToken.Path != "token" || *src[0].ServiceAccountToken.ExpirationSeconds != 3607 ||
		src[1].ConfigMap == nil || src[1].ConfigMap.Name != "kube-root-ca.crt" || src[2].DownwardAPI == nil {
		t.Errorf("projection %+v", v.Projected)
	}
	for _, ctr := range append(p.Spec.InitContainers, p.Spec.Containers...) {
		if len(ctr.VolumeMounts) != 1 || ctr.VolumeMounts[0].Name != v.Name || !ctr.VolumeMounts[0].ReadOnly ||
			ctr.VolumeMounts[0].MountPath != "/var/run/secrets/kubernetes.io/serviceaccount" {
			t.Errorf("container %s mounts %+v", ctr.Name, ctr.VolumeMounts)
		}
	}

	p, err = create("no-automount", func(p *corev1.Pod) { p.Spec.AutomountServiceAccountToken = ptr(false) })
	if err != nil {
		t.Fatal(err)
	}
	if tokenVolume(p) != nil || len(p.Spec.Containers[0].VolumeMounts) != 0 {
		t.Errorf("automount false still mounted: %+v", p.Spec.Volumes)
	}
	if _, err := c.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "quiet"},
		AutomountServiceAccountToken: ptr(false)}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	p, err = create("quiet-account", func(p *corev1.Pod) { p.Spec.ServiceAccountName = "quiet" })
	if err != nil {
		t.Fatal(err)
	}
	if tokenVolume(p) != nil {
		t.Errorf("service account automount false still mounted: %+v", p.Spec.Volumes)
	}

	_, err = create("nobody", func(p *corev1.Pod) { p.Spec.ServiceAccountName = "nobody" })
	if !apierrors.IsForbidden(err) || !strings.Contains(err.Error(), "error looking up service account "+ns+"/nobody") {
		t.Errorf("pod of a missing service account: %v, want 403", err)
	}
}
