// Package volume prepares a pod's volumes on the host as kubelet does and
// maps its containers' volumeMounts to host paths for the runtime.
//
// Each volume lives under <RootDir>/<pod UID>/volumes/<plugin>/<name>
// (plugin as kubelet names it, e.g. kubernetes.io~configmap), except
// hostPath volumes and PersistentVolumeClaims bound to hostPath or local
// PersistentVolumes, which are the host paths themselves. ConfigMap,
// Secret, downwardAPI and projected volumes are written by an atomic
// writer (a timestamped directory, a "..data" symlink swapped by rename,
// one symlink per top-level key into "..data"), so Refresh can update
// their content in place and applications never see half an update.
//
// The pod's directory also holds etc-hosts, kubelet's managed /etc/hosts
// (HostsMount): it needs the sandbox's IPs, so it is written at container
// start rather than in SetUp, and TearDown removes it with the rest.
package volume
