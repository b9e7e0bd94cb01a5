package cri

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	runtimeapi "k8s.io/cri-api/pkg/apis/runtime/v1"

	"corral/agent/runtime"
)

// ensureImage makes the container's image present as its pull policy
// asks and returns it. Failures are runtime.StartErrors with kubelet's
// reasons (InvalidImageName, ErrImageNeverPull, ErrImagePull), so the agent
// shows them and backs off (ImagePullBackOff).
func (r *Runtime) ensureImage(ctx context.Context, c *corev1.Container, auths []runtime.RegistryAuth, sandbox *runtimeapi.PodSandboxConfig) (*runtimeapi.Image, error) {
	if err := validImageName(c.Image); err != nil {
		return nil, &runtime.StartError{Reason: runtime.ReasonInvalidImageName, Err: err}
	}
	spec := &runtimeapi.ImageSpec{Image: c.Image, UserSpecifiedImage: c.Image}
	// Ask first: a pull of an image that exists only locally (imported)
	// would still go to the registry.
	img, err := r.imageStatus(ctx, spec)
	if err != nil {
		return nil, &runtime.StartError{Reason: runtime.ReasonErrImagePull, Err: err}
	}
	policy := c.ImagePullPolicy
	if policy == "" {
		policy = defaultPullPolicy(c.Image)
	}
	switch {
	case policy == corev1.PullNever && img == nil:
		return nil, &runtime.StartError{Reason: runtime.ReasonErrImageNeverPull,
			Err: fmt.Errorf("container image %q is not present with pull policy of Never", c.Image)}
	case policy == corev1.PullNever, policy == corev1.PullIfNotPresent && img != nil:
		return img, nil
	}
	if err := r.pull(ctx, spec, auths, sandbox); err != nil {
		return nil, &runtime.StartError{Reason: runtime.ReasonErrImagePull,
			Err: fmt.Errorf("failed to pull image %q: %w", c.Image, err)}
	}
	if img, err = r.imageStatus(ctx, spec); err != nil || img == nil {
		return nil, &runtime.StartError{Reason: runtime.ReasonErrImagePull,
			Err: fmt.Errorf("image %q is missing after its pull: %v", c.Image, err)}
	}
	return img, nil
}

func (r *Runtime) imageStatus(ctx context.Context, spec *runtimeapi.ImageSpec) (*runtimeapi.Image, error) {
	cctx, cancel := r.call(ctx)
	defer cancel()
	resp, err := r.img.ImageStatus(cctx, &runtimeapi.ImageStatusRequest{Image: spec})
	if err != nil {
		return nil, fmt.Errorf("ImageStatus of %q: %w", spec.Image, err)
	}
	return resp.Image, nil
}

// pull tries each credential for the image's registry in turn, or none
// when the pod has no credential for it. Pulls are bounded by ctx only.
func (r *Runtime) pull(ctx context.Context, spec *runtimeapi.ImageSpec, auths []runtime.RegistryAuth, sandbox *runtimeapi.PodSandboxConfig) error {
	host := registryHost(spec.Image)
	var tries []*runtimeapi.AuthConfig
	for _, a := range auths {
		if normalizeRegistry(a.Server) != host {
			continue
		}
		// No ServerAddress, as kubelet: containerd 1.6 url.Parses it and
		// compares the URL's host with the registry's, so "host:port"
		// fails to parse and a bare "host" never matches.
		ac := &runtimeapi.AuthConfig{Username: a.Username, Password: a.Password, Auth: a.Auth}
		if ac.Username == "" && ac.Auth != "" {
			// Some runtimes read only Username/Password.
			if dec, err := base64.StdEncoding.DecodeString(ac.Auth); err == nil {
				if u, p, ok := strings.Cut(string(dec), ":"); ok {
					ac.Username, ac.Password = u, p
				}
			}
		}
		tries = append(tries, ac)
	}
	if len(tries) == 0 {
		tries = []*runtimeapi.AuthConfig{nil}
	}
	var errs []error
	for _, auth := range tries {
		_, err := r.img.PullImage(ctx, &runtimeapi.PullImageRequest{Image: spec, Auth: auth, SandboxConfig: sandbox})
		if err == nil {
			return nil
		}
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// registryHost is the registry an image reference names: its first path
// component when that looks like a host (has a dot or a port, or is
// localhost), else Docker Hub.
func registryHost(image string) string {
	if first, _, ok := strings.Cut(image, "/"); ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		return normalizeRegistry(first)
	}
	return "docker.io"
}

// normalizeRegistry turns a docker config.json key ("https://index.docker.io/v1/",
// "registry:5000") into a host[:port], Docker Hub's aliases into docker.io.
func normalizeRegistry(server string) string {
	s := strings.ToLower(strings.TrimSpace(server))
	s = strings.TrimPrefix(strings.TrimPrefix(s, "https://"), "http://")
	s, _, _ = strings.Cut(s, "/")
	switch s {
	case "index.docker.io", "registry-1.docker.io", "registry.hub.docker.com":
		return "docker.io"
	}
	return s
}

// defaultPullPolicy is the API's default: Always for :latest or untagged
// images, IfNotPresent otherwise.
func defaultPullPolicy(image string) corev1.PullPolicy {
	if strings.Contains(image, "@") {
		return corev1.PullIfNotPresent
	}
	last := image[strings.LastIndex(image, "/")+1:]
	if _, tag, ok := strings.Cut(last, ":"); !ok || tag == "latest" {
		return corev1.PullAlways
	}
	return corev1.PullIfNotPresent
}

// validImageName rejects what no registry accepts: empty names, spaces,
// and upper case in the repository path.
func validImageName(image string) error {
	if image == "" {
		return errors.New("the container has no image")
	}
	if strings.ContainsAny(image, " \t\n\r") {
		return fmt.Errorf("invalid image name %q: contains white space", image)
	}
	repo, _, _ := strings.Cut(image, "@")
	if i := strings.LastIndex(repo, ":"); i > strings.LastIndex(repo, "/") {
		repo = repo[:i]
	}
	if first, rest, ok := strings.Cut(repo, "/"); ok && (strings.ContainsAny(first, ".:") || first == "localhost") {
		repo = rest
	}
	if repo == "" || strings.ToLower(repo) != repo {
		return fmt.Errorf("invalid image name %q: the repository must be lower case", image)
	}
	return nil
}
