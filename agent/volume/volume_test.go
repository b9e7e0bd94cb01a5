package volume

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	clocktesting "k8s.io/utils/clock/testing"

	"corral/agent/env"
	"corral/agent/runtime"
)

func ptr[T any](v T) *T { return &v }

type fixture struct {
	m      *Manager
	client *fake.Clientset
	clock  *clocktesting.FakePassiveClock
}

func newFixture(t *testing.T, objs ...k8sruntime.Object) *fixture {
	t.Helper()
	objs = append(objs, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}, Status: corev1.NodeStatus{
		Allocatable: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("2"), corev1.ResourceMemory: resource.MustParse("4Gi")}}})
	client := fake.NewClientset(objs...)
	clk := clocktesting.NewFakePassiveClock(time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC))
	src := env.NewClientSources(client, "n1", time.Second, clk)
	return &fixture{m: &Manager{Client: client, Sources: src, RootDir: t.TempDir(), Clock: clk}, client: client, clock: clk}
}

func pod(vols ...corev1.Volume) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "web", UID: "uid-1", Labels: map[string]string{"app": "web", "tier": "front"}},
		Spec: corev1.PodSpec{NodeName: "n1", Volumes: vols, Containers: []corev1.Container{{Name: "app",
			Resources: corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}}}}},
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func mode(t *testing.T, path string) os.FileMode {
	t.Helper()
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return info.Mode().Perm()
}

func TestConfigMapVolumeAtomicUpdate(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "cfg"},
		Data: map[string]string{"app.conf": "v1", "old": "bye"}, BinaryData: map[string][]byte{"bin": {0, 1}}})
	p := pod(
		corev1.Volume{Name: "all", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, DefaultMode: ptr[int32](0o600)}}},
		corev1.Volume{Name: "items", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{
			LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"},
			Items:                []corev1.KeyToPath{{Key: "app.conf", Path: "conf/app.conf", Mode: ptr[int32](0o400)}}}}},
	)
	if err := f.m.SetUp(ctx, p); err != nil {
		t.Fatal(err)
	}
	all := filepath.Join(f.m.RootDir, "uid-1", "volumes", "kubernetes.io~configmap", "all")
	if got := readFile(t, filepath.Join(all, "app.conf")); got != "v1" {
		t.Errorf("app.conf = %q", got)
	}
	if got := readFile(t, filepath.Join(all, "bin")); got != "\x00\x01" {
		t.Errorf("bin = %q", got)
	}
	if m := mode(t, filepath.Join(all, "app.conf")); m != 0o600 {
		t.Errorf("defaultMode: %v", m)
	}
	items := filepath.Join(f.m.RootDir, "uid-1", "volumes", "kubernetes.io~configmap", "items")
	if m := mode(t, filepath.Join(items, "conf", "app.conf")); m != 0o400 {
		t.Errorf("item mode: %v", m)
	}
	if _, err := os.Lstat(filepath.Join(items, "old")); !os.IsNotExist(err) {
		t.Errorf("key not in items was written: %v", err)
	}
	// Keys are symlinks into ..data, which points at a timestamped dir.
	if target, err := os.Readlink(filepath.Join(all, "app.conf")); err != nil || target != "..data/app.conf" {
		t.Errorf("app.conf link = %q, %v", target, err)
	}
	first, err := os.Readlink(filepath.Join(all, "..data"))
	if err != nil || !strings.HasPrefix(first, "..2026_11_25_12_00_00.") {
		t.Fatalf("..data = %q, %v", first, err)
	}

	// Unchanged content: nothing is rewritten.
	f.clock.SetTime(f.clock.Now().Add(2 * time.Second))
	if err := f.m.Refresh(ctx, p); err != nil {
		t.Fatal(err)
	}
	if cur, _ := os.Readlink(filepath.Join(all, "..data")); cur != first {
		t.Errorf("unchanged content rewritten: %s -> %s", first, cur)
	}

	// Keep a file open across the update: it still reads the old version.
	held, err := os.Open(filepath.Join(all, "app.conf"))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	cm, _ := f.client.CoreV1().ConfigMaps("ns").Get(ctx, "cfg", metav1.GetOptions{})
	cm.Data = map[string]string{"app.conf": "v2", "new": "hi"}
	cm.BinaryData = nil
	if _, err := f.client.CoreV1().ConfigMaps("ns").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.clock.SetTime(f.clock.Now().Add(2 * time.Second)) // past the Sources TTL
	if err := f.m.Refresh(ctx, p); err != nil {
		t.Fatal(err)
	}
	second, _ := os.Readlink(filepath.Join(all, "..data"))
	if second == first {
		t.Fatal("..data was not switched")
	}
	if _, err := os.Stat(filepath.Join(all, first)); !os.IsNotExist(err) {
		t.Errorf("old data dir %s left behind: %v", first, err)
	}
	if got := readFile(t, filepath.Join(all, "app.conf")); got != "v2" {
		t.Errorf("after update app.conf = %q", got)
	}
	if got := readFile(t, filepath.Join(all, "new")); got != "hi" {
		t.Errorf("new key = %q", got)
	}
	for _, gone := range []string{"old", "bin"} {
		if _, err := os.Lstat(filepath.Join(all, gone)); !os.IsNotExist(err) {
			t.Errorf("removed key %s still visible: %v", gone, err)
		}
	}
	buf := make([]byte, 8)
	n, _ := held.Read(buf)
	if string(buf[:n]) != "v1" {
		t.Errorf("open file reads %q, want the old v1", buf[:n])
	}
	if got := readFile(t, filepath.Join(items, "conf", "app.conf")); got != "v2" {
		t.Errorf("items volume after update = %q", got)
	}

	// SetUp on every sync refreshes too.
	cm.Data = map[string]string{"app.conf": "v3"}
	if _, err := f.client.CoreV1().ConfigMaps("ns").Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	f.clock.SetTime(f.clock.Now().Add(2 * time.Second))
	if err := f.m.SetUp(ctx, p); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(all, "app.conf")); got != "v3" {
		t.Errorf("after SetUp app.conf = %q", got)
	}

	mounts, err := f.m.Mounts(p, &corev1.Container{VolumeMounts: []corev1.VolumeMount{{Name: "all", MountPath: "/etc/app"}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := (runtime.Mount{HostPath: all, ContainerPath: "/etc/app", ReadOnly: true}); len(mounts) != 1 || mounts[0] != want {
		t.Errorf("mounts = %+v, want %+v", mounts, want)
	}
}

func TestSecretOptional(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "s"}, Data: map[string][]byte{"k": []byte("v")}})
	opt := pod(corev1.Volume{Name: "opt", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "missing", Optional: ptr(true)}}})
	if err := f.m.SetUp(ctx, opt); err != nil {
		t.Fatalf("optional missing secret: %v", err)
	}
	dir := filepath.Join(f.m.RootDir, "uid-1", "volumes", "kubernetes.io~secret", "opt")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if !strings.HasPrefix(e.Name(), "..") {
			t.Errorf("optional missing secret volume holds %s", e.Name())
		}
	}
	req := pod(corev1.Volume{Name: "req", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "missing"}}})
	req.UID = "uid-2"
	if err := f.m.SetUp(ctx, req); err == nil || !strings.Contains(err.Error(), `secrets "missing" not found`) {
		t.Errorf("required missing secret: %v", err)
	}
	badKey := pod(corev1.Volume{Name: "bad", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s",
		Items: []corev1.KeyToPath{{Key: "nope", Path: "x"}}}}})
	badKey.UID = "uid-3"
	if err := f.m.SetUp(ctx, badKey); err == nil || !strings.Contains(err.Error(), "non-existent key: nope") {
		t.Errorf("missing item key: %v", err)
	}
	_, err = f.m.Mounts(req, &corev1.Container{VolumeMounts: []corev1.VolumeMount{{Name: "req", MountPath: "/s"}}}, nil)
	if err == nil || !strings.Contains(err.Error(), "not set up") {
		t.Errorf("mount of a failed volume: %v", err)
	}
}

func TestSubPath(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "cfg"}, Data: map[string]string{"a.conf": "A"}})
	p := pod(
		corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		corev1.Volume{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
	)
	if err := f.m.SetUp(ctx, p); err != nil {
		t.Fatal(err)
	}
	scratch := filepath.Join(f.m.RootDir, "uid-1", "volumes", "kubernetes.io~empty-dir", "scratch")
	if m := mode(t, scratch); m != 0o777 {
		t.Errorf("emptyDir mode %v", m)
	}
	c := &corev1.Container{VolumeMounts: []corev1.VolumeMount{
		{Name: "scratch", MountPath: "/data", SubPath: "logs/app"},
		{Name: "scratch", MountPath: "/per-pod", SubPathExpr: "by-pod/$(POD_NAME)", ReadOnly: true},
		{Name: "cfg", MountPath: "/etc/a.conf", SubPath: "a.conf"},
	}}
	mounts, err := f.m.Mounts(p, c, []corev1.EnvVar{{Name: "POD_NAME", Value: "web"}})
	if err != nil {
		t.Fatal(err)
	}
	if mounts[0].HostPath != filepath.Join(scratch, "logs", "app") || mounts[0].ReadOnly {
		t.Errorf("subPath mount %+v", mounts[0])
	}
	if info, err := os.Stat(mounts[0].HostPath); err != nil || !info.IsDir() {
		t.Errorf("subPath not created as a directory: %v", err)
	}
	if mounts[1].HostPath != filepath.Join(scratch, "by-pod", "web") || !mounts[1].ReadOnly {
		t.Errorf("subPathExpr mount %+v", mounts[1])
	}
	if got := readFile(t, mounts[2].HostPath); got != "A" || !mounts[2].ReadOnly {
		t.Errorf("configMap key subPath %+v reads %q", mounts[2], got)
	}
	// A symlink planted in the volume must not lead a subPath out of it.
	if err := os.Symlink("/etc", filepath.Join(scratch, "escape")); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"escape", "escape/passwd", "../x", "/abs"} {
		_, err := f.m.Mounts(p, &corev1.Container{VolumeMounts: []corev1.VolumeMount{{Name: "scratch", MountPath: "/x", SubPath: sub}}}, nil)
		if err == nil {
			t.Errorf("subPath %q accepted", sub)
		}
	}
	if _, err := f.m.Mounts(p, &corev1.Container{VolumeMounts: []corev1.VolumeMount{{Name: "nope", MountPath: "/x"}}}, nil); err == nil {
		t.Error("mount of an unknown volume accepted")
	}
}

func TestHostPathTypes(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "s.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ok := []struct {
		path string
		typ  corev1.HostPathType
	}{
		{filepath.Join(dir, "nothing"), corev1.HostPathUnset},
		{dir, corev1.HostPathDirectory},
		{filepath.Join(dir, "made/deep"), corev1.HostPathDirectoryOrCreate},
		{file, corev1.HostPathFile},
		{file, corev1.HostPathFileOrCreate},
		{filepath.Join(dir, "newfile"), corev1.HostPathFileOrCreate},
		{sock, corev1.HostPathSocket},
		{"/dev/null", corev1.HostPathCharDev},
	}
	for _, c := range ok {
		if err := checkHostPath(c.path, &c.typ); err != nil {
			t.Errorf("%s %q: %v", c.path, c.typ, err)
		}
	}
	if info, err := os.Stat(filepath.Join(dir, "made/deep")); err != nil || !info.IsDir() || info.Mode().Perm() != 0o755 {
		t.Errorf("DirectoryOrCreate: %v %v", info, err)
	}
	if info, err := os.Stat(filepath.Join(dir, "newfile")); err != nil || !info.Mode().IsRegular() {
		t.Errorf("FileOrCreate: %v", err)
	}
	bad := []struct {
		path string
		typ  corev1.HostPathType
		want string
	}{
		{file, corev1.HostPathDirectory, "is not a directory"},
		{file, corev1.HostPathDirectoryOrCreate, "is not a directory"},
		{filepath.Join(dir, "missing"), corev1.HostPathDirectory, "is not a directory"},
		{dir, corev1.HostPathFile, "is not a file"},
		{dir, corev1.HostPathFileOrCreate, "is not a file"},
		{file, corev1.HostPathSocket, "is not a socket file"},
		{file, corev1.HostPathCharDev, "is not a character device"},
		{"/dev/null", corev1.HostPathBlockDev, "is not a block device"},
		{dir, "Bogus", "invalid hostPath type"},
	}
	for _, c := range bad {
		err := checkHostPath(c.path, &c.typ)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %q: %v, want %q", c.path, c.typ, err, c.want)
		}
	}

	// Through the manager: the error names the volume, the mount is the path.
	f := newFixture(t)
	p := pod(corev1.Volume{Name: "h", VolumeSource: corev1.VolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: file, Type: ptr(corev1.HostPathDirectory)}}})
	if err := f.m.SetUp(context.Background(), p); err == nil || !strings.Contains(err.Error(), `volume "h": hostPath type check failed`) {
		t.Errorf("bad hostPath type: %v", err)
	}
	p.Spec.Volumes[0].HostPath.Type = ptr(corev1.HostPathFile)
	if err := f.m.SetUp(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	mounts, err := f.m.Mounts(p, &corev1.Container{VolumeMounts: []corev1.VolumeMount{{Name: "h", MountPath: "/f"}}}, nil)
	if err != nil || mounts[0].HostPath != file || mounts[0].ReadOnly {
		t.Errorf("hostPath mount %+v %v", mounts, err)
	}
}

func TestDownwardAPIAndProjected(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t,
		&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "cfg"}, Data: map[string]string{"k": "cm"}},
		&corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "s"}, Data: map[string][]byte{"k": []byte("sec")}})
	dapi := []corev1.DownwardAPIVolumeFile{
		{Path: "labels", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.labels"}},
		{Path: "name", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}, Mode: ptr[int32](0o400)},
		{Path: "mem", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "app", Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}},
		{Path: "cpu", ResourceFieldRef: &corev1.ResourceFieldSelector{ContainerName: "app", Resource: "limits.cpu", Divisor: resource.MustParse("1m")}},
	}
	p := pod(
		corev1.Volume{Name: "info", VolumeSource: corev1.VolumeSource{DownwardAPI: &corev1.DownwardAPIVolumeSource{Items: dapi}}},
		corev1.Volume{Name: "all", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{DefaultMode: ptr[int32](0o440), Sources: []corev1.VolumeProjection{
			{ConfigMap: &corev1.ConfigMapProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Items: []corev1.KeyToPath{{Key: "k", Path: "cm/k"}}}},
			{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "s"}, Items: []corev1.KeyToPath{{Key: "k", Path: "sec/k"}}}},
			{Secret: &corev1.SecretProjection{LocalObjectReference: corev1.LocalObjectReference{Name: "gone"}, Optional: ptr(true)}},
			{DownwardAPI: &corev1.DownwardAPIProjection{Items: dapi[1:2]}},
		}}}},
	)
	if err := f.m.SetUp(ctx, p); err != nil {
		t.Fatal(err)
	}
	info := filepath.Join(f.m.RootDir, "uid-1", "volumes", "kubernetes.io~downward-api", "info")
	want := map[string]string{"labels": "app=\"web\"\ntier=\"front\"\n", "name": "web", "mem": "64", "cpu": "2000"}
	for k, v := range want {
		if got := readFile(t, filepath.Join(info, k)); got != v {
			t.Errorf("downwardAPI %s = %q, want %q", k, got, v)
		}
	}
	if m := mode(t, filepath.Join(info, "name")); m != 0o400 {
		t.Errorf("name mode %v", m)
	}
	all := filepath.Join(f.m.RootDir, "uid-1", "volumes", "kubernetes.io~projected", "all")
	for k, v := range map[string]string{"cm/k": "cm", "sec/k": "sec", "name": "web"} {
		if got := readFile(t, filepath.Join(all, k)); got != v {
			t.Errorf("projected %s = %q, want %q", k, got, v)
		}
	}
	if m := mode(t, filepath.Join(all, "cm/k")); m != 0o440 {
		t.Errorf("projected defaultMode %v", m)
	}

	// A label change reaches the file on the next refresh.
	p.Labels["tier"] = "back"
	if err := f.m.Refresh(ctx, p); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, filepath.Join(info, "labels")); got != "app=\"web\"\ntier=\"back\"\n" {
		t.Errorf("labels after change = %q", got)
	}
}

func TestPersistentVolumeClaims(t *testing.T) {
	ctx := context.Background()
	data := t.TempDir()
	f := newFixture(t,
		&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "bound", UID: "pvc-1"},
			Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv-host"}, Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound}},
		&corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-host"}, Spec: corev1.PersistentVolumeSpec{
			ClaimRef:               &corev1.ObjectReference{Namespace: "ns", Name: "bound", UID: "pvc-1"},
			PersistentVolumeSource: corev1.PersistentVolumeSource{HostPath: &corev1.HostPathVolumeSource{Path: data}}}},
		&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "pending"}, Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimPending}},
		&corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "nfs", UID: "pvc-2"},
			Spec: corev1.PersistentVolumeClaimSpec{VolumeName: "pv-nfs"}, Status: corev1.PersistentVolumeClaimStatus{Phase: corev1.ClaimBound}},
		&corev1.PersistentVolume{ObjectMeta: metav1.ObjectMeta{Name: "pv-nfs"}, Spec: corev1.PersistentVolumeSpec{
			ClaimRef:               &corev1.ObjectReference{Namespace: "ns", Name: "nfs", UID: "pvc-2"},
			PersistentVolumeSource: corev1.PersistentVolumeSource{NFS: &corev1.NFSVolumeSource{Server: "127.0.0.1", Path: "/x"}}}},
	)
	claim := func(name string, ro bool) corev1.Volume {
		return corev1.Volume{Name: "v", VolumeSource: corev1.VolumeSource{PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: name, ReadOnly: ro}}}
	}
	p := pod(claim("bound", true))
	if err := f.m.SetUp(ctx, p); err != nil {
		t.Fatal(err)
	}
	mounts, err := f.m.Mounts(p, &corev1.Container{VolumeMounts: []corev1.VolumeMount{{Name: "v", MountPath: "/data"}}}, nil)
	if err != nil || len(mounts) != 1 || mounts[0].HostPath != data || !mounts[0].ReadOnly {
		t.Errorf("claim mount %+v %v", mounts, err)
	}
	for name, want := range map[string]string{"pending": "is not bound", "nfs": "neither hostPath nor local", "absent": "not found"} {
		q := pod(claim(name, false))
		q.UID = types.UID("uid-" + name)
		if err := f.m.SetUp(ctx, q); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("claim %s: %v, want %q", name, err, want)
		}
	}
}

func TestUnsupportedAndTearDown(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	p := pod(
		corev1.Volume{Name: "ok", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
		corev1.Volume{Name: "remote", VolumeSource: corev1.VolumeSource{NFS: &corev1.NFSVolumeSource{Server: "127.0.0.1", Path: "/"}}},
	)
	err := f.m.SetUp(ctx, p)
	if err == nil || !strings.Contains(err.Error(), `volume "remote": type nfs is not supported`) {
		t.Errorf("nfs volume: %v", err)
	}
	if _, err := f.m.Mounts(p, &corev1.Container{VolumeMounts: []corev1.VolumeMount{{Name: "ok", MountPath: "/ok"}}}, nil); err != nil {
		t.Errorf("the good volume is usable despite the bad one: %v", err)
	}
	if err := f.m.TearDown("uid-1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(f.m.RootDir, "uid-1")); !os.IsNotExist(err) {
		t.Errorf("pod dir left: %v", err)
	}
	if err := f.m.TearDown("uid-1"); err != nil {
		t.Errorf("second TearDown: %v", err)
	}
	if err := f.m.TearDown("../etc"); err == nil {
		t.Error("TearDown accepted a UID with a slash")
	}
}

func TestMemoryEmptyDir(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting tmpfs needs root")
	}
	ctx := context.Background()
	f := newFixture(t)
	p := pod(corev1.Volume{Name: "mem", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{
		Medium: corev1.StorageMediumMemory, SizeLimit: ptr(resource.MustParse("1Mi"))}}})
	if err := f.m.SetUp(ctx, p); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(f.m.RootDir, "uid-1", "volumes", "kubernetes.io~empty-dir", "mem")
	t.Cleanup(func() { _ = unmountUnder(dir) })
	if mounted, err := isMountPoint(dir); err != nil || !mounted {
		t.Fatalf("tmpfs not mounted: %v %v", mounted, err)
	}
	// The size limit holds: 2 MiB do not fit.
	if err := os.WriteFile(filepath.Join(dir, "big"), make([]byte, 2<<20), 0o644); err == nil {
		t.Error("wrote 2MiB into a 1Mi tmpfs")
	}
	// A second SetUp (a new agent, no memory of the pod) does not stack mounts.
	m2 := &Manager{Client: f.m.Client, Sources: f.m.Sources, RootDir: f.m.RootDir}
	if err := m2.SetUp(ctx, p); err != nil {
		t.Fatal(err)
	}
	if points, _ := mountsUnder(dir); len(points) != 1 {
		t.Errorf("mounts on %s: %v", dir, points)
	}
	if err := f.m.TearDown("uid-1"); err != nil {
		t.Fatal(err)
	}
	if points, _ := mountsUnder(dir); len(points) != 0 {
		t.Errorf("still mounted: %v", points)
	}
	if _, err := os.Stat(filepath.Join(f.m.RootDir, "uid-1")); !os.IsNotExist(err) {
		t.Errorf("pod dir left: %v", err)
	}
}

func TestFSGroup(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("changing group ownership needs root")
	}
	f := newFixture(t, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "s"}, Data: map[string][]byte{"k": []byte("v")}})
	p := pod(
		corev1.Volume{Name: "s", VolumeSource: corev1.VolumeSource{Secret: &corev1.SecretVolumeSource{SecretName: "s", DefaultMode: ptr[int32](0o400)}}},
		corev1.Volume{Name: "e", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	)
	p.Spec.SecurityContext = &corev1.PodSecurityContext{FSGroup: ptr[int64](4321)}
	if err := f.m.SetUp(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	vols := filepath.Join(f.m.RootDir, "uid-1", "volumes")
	info, err := os.Stat(filepath.Join(vols, "kubernetes.io~secret", "s", "k"))
	if err != nil {
		t.Fatal(err)
	}
	if st := info.Sys().(*syscall.Stat_t); st.Gid != 4321 || info.Mode().Perm() != 0o440 {
		t.Errorf("secret file gid %d mode %v, want 4321 0440", st.Gid, info.Mode().Perm())
	}
	info, err = os.Stat(filepath.Join(vols, "kubernetes.io~empty-dir", "e"))
	if err != nil {
		t.Fatal(err)
	}
	if st := info.Sys().(*syscall.Stat_t); st.Gid != 4321 || info.Mode()&os.ModeSetgid == 0 {
		t.Errorf("emptyDir gid %d mode %v, want 4321 with setgid", st.Gid, info.Mode())
	}
}

// TestConcurrentPods runs many pods through the manager at once (for -race).
func TestConcurrentPods(t *testing.T) {
	f := newFixture(t, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "cfg"}, Data: map[string]string{"k": "v"}})
	errs := make(chan error)
	for i := range 20 {
		go func() {
			p := pod(
				corev1.Volume{Name: "cfg", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}},
				corev1.Volume{Name: "tmp", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			)
			p.UID = types.UID(fmt.Sprintf("uid-%d", i))
			c := &corev1.Container{VolumeMounts: []corev1.VolumeMount{{Name: "cfg", MountPath: "/c"}, {Name: "tmp", MountPath: "/t", SubPath: "x"}}}
			for range 3 {
				if err := f.m.SetUp(context.Background(), p); err != nil {
					errs <- err
					return
				}
				if _, err := f.m.Mounts(p, c, nil); err != nil {
					errs <- err
					return
				}
			}
			errs <- f.m.TearDown(p.UID)
		}()
	}
	for range 20 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if entries, _ := os.ReadDir(f.m.RootDir); len(entries) != 0 {
		t.Errorf("%d pod dirs left", len(entries))
	}
}
