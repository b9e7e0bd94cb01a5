package containerd

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
)

// disabledPlugins are plugins corral never uses; leaving them out saves
// start-up time and log noise (each probes the host on load).
var disabledPlugins = []string{
	"io.containerd.snapshotter.v1.aufs",
	"io.containerd.snapshotter.v1.btrfs",
	"io.containerd.snapshotter.v1.devmapper",
	"io.containerd.snapshotter.v1.zfs",
	"io.containerd.tracing.processor.v1.otlp",
	"io.containerd.internal.v1.tracing",
}

// Paths are where one containerd keeps its files, all under Dir.
type Paths struct {
	Dir     string // <DataDir>/containerd
	Config  string
	Root    string
	State   string
	Socket  string // the grpc (and CRI) endpoint
	TTRPC   string
	Opt     string
	Log     string
	PIDFile string
}

// PathsFor lays out a containerd under dataDir/containerd.
func PathsFor(dataDir string) Paths {
	d := filepath.Join(dataDir, "containerd")
	return Paths{
		Dir:     d,
		Config:  filepath.Join(d, "config.toml"),
		Root:    filepath.Join(d, "root"),
		State:   filepath.Join(d, "state"),
		Socket:  filepath.Join(d, "containerd.sock"),
		TTRPC:   filepath.Join(d, "containerd.sock.ttrpc"),
		Opt:     filepath.Join(d, "opt"),
		Log:     filepath.Join(d, "containerd.log"),
		PIDFile: filepath.Join(d, "containerd.pid"),
	}
}

// configParams are the inputs of the config file.
type configParams struct {
	Paths
	SandboxImage  string
	CNIBinDir     string
	CNIConfDir    string
	RuncBinary    string
	StreamAddress string
	StreamPort    int
	Snapshotter   string
}

// renderConfig writes containerd 1.6's version-2 config. Values are
// quoted with strconv.Quote, whose escapes are valid TOML basic strings.
func renderConfig(p configParams) string {
	q := strconv.Quote
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	quoted := make([]string, len(disabledPlugins))
	for i, d := range disabledPlugins {
		quoted[i] = q(d)
	}
	const cri = `plugins."io.containerd.grpc.v1.cri"`
	w("# Written by corral's agent on every start; edits are overwritten.")
	w("version = 2")
	w("root = %s", q(p.Root))
	w("state = %s", q(p.State))
	w("disabled_plugins = [%s]", strings.Join(quoted, ", "))
	w("")
	w("[grpc]")
	w("  address = %s", q(p.Socket))
	w("")
	w("[ttrpc]")
	w("  address = %s", q(p.TTRPC))
	w("")
	w(`[plugins."io.containerd.internal.v1.opt"]`)
	w("  path = %s", q(p.Opt))
	w("")
	w("[%s]", cri)
	w("  sandbox_image = %s", q(p.SandboxImage))
	// Root lacks CAP_SYS_RESOURCE on these machines: without this every
	// RunPodSandbox fails ("can't get final child's PID from pipe").
	w("  restrict_oom_score_adj = true")
	w("  netns_mounts_under_state_dir = true")
	w("  stream_server_address = %s", q(p.StreamAddress))
	w("  stream_server_port = %s", q(strconv.Itoa(p.StreamPort)))
	w("  enable_selinux = false")
	w("")
	w("[%s.containerd]", cri)
	w("  snapshotter = %s", q(p.Snapshotter))
	w(`  default_runtime_name = "runc"`)
	w("")
	w("[%s.containerd.runtimes.runc]", cri)
	w(`  runtime_type = "io.containerd.runc.v2"`)
	w("")
	w("[%s.containerd.runtimes.runc.options]", cri)
	w("  BinaryName = %s", q(p.RuncBinary))
	w("  SystemdCgroup = false")
	// runc's own state too, not the shared /run/containerd/runc.
	w("  Root = %s", q(filepath.Join(p.State, "runc")))
	w("")
	w("[%s.cni]", cri)
	w("  bin_dir = %s", q(p.CNIBinDir))
	w("  conf_dir = %s", q(p.CNIConfDir))
	w("  max_conf_num = 1")
	return b.String()
}
