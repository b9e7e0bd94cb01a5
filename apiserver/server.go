package apiserver

import (
	"context"
	"fmt"
	"net"
	"net/http"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	apimachineryversion "k8s.io/apimachinery/pkg/version"
	"k8s.io/apiserver/pkg/admission"
	"k8s.io/apiserver/pkg/admission/plugin/namespace/lifecycle"
	"k8s.io/apiserver/pkg/authentication/authenticator"
	"k8s.io/apiserver/pkg/authentication/request/bearertoken"
	"k8s.io/apiserver/pkg/authentication/request/union"
	x509request "k8s.io/apiserver/pkg/authentication/request/x509"
	tokenunion "k8s.io/apiserver/pkg/authentication/token/union"
	openapinamer "k8s.io/apiserver/pkg/endpoints/openapi"
	"k8s.io/apiserver/pkg/registry/rest"
	genericapiserver "k8s.io/apiserver/pkg/server"
	"k8s.io/apiserver/pkg/server/dynamiccertificates"
	genericoptions "k8s.io/apiserver/pkg/server/options"
	"k8s.io/apiserver/pkg/storage/storagebackend"
	utilfeature "k8s.io/apiserver/pkg/util/feature"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	basecompatibility "k8s.io/component-base/compatibility"

	"corral/api"
	"corral/api/openapi"
	"corral/api/validation"
	"corral/storage"
)

// KubernetesVersion is the Kubernetes API version corral implements.
const KubernetesVersion = "1.37.2"

// Config is what the API server needs to run.
type Config struct {
	// Listener, when set, is used instead of BindAddress:Port (tests use :0).
	Listener    net.Listener
	BindAddress net.IP
	Port        int
	// ServingCertFile and ServingKeyFile hold the HTTPS certificate.
	ServingCertFile, ServingKeyFile string
	// ClientCAFile signs the client certificates that are accepted.
	ClientCAFile string
	// AgentClientCertFile and AgentClientKeyFile are the client
	// certificate presented to node agents (pods/log, exec, attach,
	// portforward); without them those subresources answer 503.
	AgentClientCertFile, AgentClientKeyFile string
	// EtcdEndpoints, and TLS files for an external etcd (optional).
	EtcdEndpoints                         []string
	EtcdCAFile, EtcdCertFile, EtcdKeyFile string
	// EtcdPrefix is the key prefix of all objects (default /registry).
	EtcdPrefix string
	// ServiceAccountKeyFile is the PEM RSA key signing service account
	// tokens (a key made in memory when empty: tokens then die with the process).
	ServiceAccountKeyFile string
	// AdminToken and JoinToken are the accepted bearer tokens.
	AdminToken, JoinToken string
	// ServiceCIDR is where cluster IPs come from; NodePorts from NodePortBase.
	ServiceCIDR                *net.IPNet
	NodePortBase, NodePortSize int
	// AdvertiseAddress is the address other machines reach this server on.
	AdvertiseAddress net.IP
	// Version is corral's own version, shown in /version's gitVersion.
	Version string
}

// Server is a configured, not yet running API server.
type Server struct {
	Generic *genericapiserver.GenericAPIServer
	closers []func()
}

// New builds the API server: storage for every served resource, the
// handler chain with authentication, authorization and admission.
func New(cfg Config) (*Server, error) {
	validation.SetNodePortRange(int32(cfg.NodePortBase), int32(cfg.NodePortBase+cfg.NodePortSize-1))
	gc := genericapiserver.NewConfig(api.Codecs)
	gc.EffectiveVersion = versionInfo{basecompatibility.NewEffectiveVersionFromString(KubernetesVersion, "", ""), cfg.Version}
	gc.FeatureGate = utilfeature.DefaultFeatureGate
	gc.ExternalAddress = fmt.Sprintf("%s:%d", cfg.AdvertiseAddress, cfg.Port)
	gc.PublicAddress = cfg.AdvertiseAddress
	// On shutdown, close what is still open (watches, agent streams) 2 s
	// after the short requests have drained, instead of waiting out
	// RequestTimeout (60 s) for every connection that holds a watch:
	// remote agents and `kubectl get -w` always do.
	gc.ShutdownSendRetryAfter = true
	// Streams to node agents last as long as the client wants, as watches
	// do; node heartbeats are not held back by the in-flight limits.
	gc.LongRunningFunc = longRunning()
	gc.BuildHandlerChainFunc = func(apiHandler http.Handler, c *genericapiserver.Config) http.Handler {
		return genericapiserver.DefaultBuildHandlerChain(heartbeatLane(apiHandler, heartbeatConcurrency, heartbeatWait), c)
	}

	serving := genericoptions.NewSecureServingOptions().WithLoopback()
	serving.BindAddress, serving.BindPort, serving.Listener = cfg.BindAddress, cfg.Port, cfg.Listener
	serving.ServerCert.CertKey = genericoptions.CertKey{CertFile: cfg.ServingCertFile, KeyFile: cfg.ServingKeyFile}
	if err := serving.ApplyTo(&gc.SecureServing, &gc.LoopbackClientConfig); err != nil {
		return nil, fmt.Errorf("serving: %w", err)
	}
	// The in-process components (controllers, scheduler, the server's own
	// node agent) speak protobuf, as kube-apiserver's loopback clients do:
	// JSON encoding of every binding and status write, both ways, was a
	// few percent of the server's CPU. Compressing loopback traffic only
	// costs CPU.
	gc.LoopbackClientConfig.ContentType = runtime.ContentTypeProtobuf
	gc.LoopbackClientConfig.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
	gc.LoopbackClientConfig.DisableCompression = true

	clientCA, err := dynamiccertificates.NewDynamicCAContentFromFile("client-ca", cfg.ClientCAFile)
	if err != nil {
		return nil, fmt.Errorf("client CA: %w", err)
	}
	gc.SecureServing.ClientCA = clientCA
	saTokens, err := newSATokensFor(cfg)
	if err != nil {
		return nil, err
	}
	tokens := tokenunion.New(NewTokenAuthenticator(cfg.AdminToken, cfg.JoinToken), saTokens)
	gc.Authentication.APIAudiences = saTokens.Audiences()
	gc.Authentication.Authenticator = union.New(
		newCachedCertAuthenticator(x509request.NewDynamic(clientCA.VerifyOptions, x509request.CommonNameUserConversion)),
		bearertoken.New(tokens),
	)
	gc.Authorization.Authorizer = Authorizer{}
	genericapiserver.AuthorizeClientBearerToken(gc.LoopbackClientConfig, &gc.Authentication, &gc.Authorization)

	namer := openapinamer.NewDefinitionNamer(api.Scheme)
	gc.OpenAPIConfig = genericapiserver.DefaultOpenAPIConfig(openapi.GetOpenAPIDefinitions, namer)
	gc.OpenAPIConfig.Info.Title = "Kubernetes"
	gc.OpenAPIConfig.Info.Version = "v" + KubernetesVersion
	gc.OpenAPIV3Config = genericapiserver.DefaultOpenAPIV3Config(openapi.GetOpenAPIDefinitions, namer)
	gc.OpenAPIV3Config.Info.Title = "Kubernetes"
	gc.OpenAPIV3Config.Info.Version = "v" + KubernetesVersion

	etcdClient, err := storage.NewClient(cfg.EtcdEndpoints)
	if err != nil {
		return nil, fmt.Errorf("etcd client: %w", err)
	}
	srv := &Server{closers: []func(){func() { etcdClient.Close() }}}
	if err := applyStorage(cfg, gc); err != nil {
		return nil, err
	}

	client, err := kubernetes.NewForConfig(gc.LoopbackClientConfig)
	if err != nil {
		return nil, err
	}
	factory := informers.NewSharedInformerFactory(client, 0)
	lc, err := lifecycle.NewLifecycle(sets.New("default", "kube-system", "kube-public"))
	if err != nil {
		return nil, err
	}
	lc.SetExternalKubeClientSet(client)
	lc.SetExternalKubeInformerFactory(factory)
	if err := lc.ValidateInitialization(); err != nil {
		return nil, err
	}
	// The chain runs mutating plugins first, then validating ones.
	gc.AdmissionControl = admission.NewChainHandler(lc, newServiceAccountAdmission(factory, client), newDefaultStorageClass(factory))

	generic, err := gc.Complete(factory).New("corral-apiserver", genericapiserver.NewEmptyDelegate())
	if err != nil {
		return nil, err
	}
	srv.Generic = generic

	allocs := &serviceAllocations{
		ips:   storage.NewIPAllocator(etcdClient, "serviceips", cfg.ServiceCIDR),
		ports: storage.NewPortAllocator(etcdClient, "nodeports", cfg.NodePortBase, cfg.NodePortSize),
	}
	groups, err := buildGroups(gc.RESTOptionsGetter, allocs, tokens, saTokens, agentCertFiles{cfg.AgentClientCertFile, cfg.AgentClientKeyFile})
	if err != nil {
		return nil, err
	}
	for _, g := range groups {
		if g.PrioritizedVersions[0].Group == "" {
			err = generic.InstallLegacyAPIGroup(genericapiserver.DefaultLegacyAPIPrefix, g)
		} else {
			err = generic.InstallAPIGroups(g)
		}
		if err != nil {
			return nil, fmt.Errorf("installing %s: %w", g.PrioritizedVersions[0], err)
		}
	}

	generic.AddPostStartHookOrDie("corral-informers", func(ctx genericapiserver.PostStartHookContext) error {
		factory.Start(ctx.Done())
		return nil
	})
	generic.AddPostStartHookOrDie("corral-bootstrap", func(ctx genericapiserver.PostStartHookContext) error {
		return bootstrap(ctx, ctx.LoopbackClientConfig, cfg)
	})
	return srv, nil
}

// applyStorage points the generic registry at etcd, storing objects as
// protobuf in their storage versions.
func applyStorage(cfg Config, gc *genericapiserver.Config) error {
	proto, ok := runtime.SerializerInfoForMediaType(api.Codecs.SupportedMediaTypes(), runtime.ContentTypeProtobuf)
	if !ok {
		return fmt.Errorf("no protobuf serializer")
	}
	versions := schema.GroupVersions(api.StorageVersions())
	codec := api.Codecs.CodecForVersions(proto.Serializer, proto.Serializer, versions, runtime.InternalGroupVersioner)
	prefix := cfg.EtcdPrefix
	if prefix == "" {
		prefix = "/registry"
	}
	backend := storagebackend.NewDefaultConfig(prefix, codec)
	backend.EncodeVersioner = versions
	backend.Transport.ServerList = cfg.EtcdEndpoints
	backend.Transport.TrustedCAFile, backend.Transport.CertFile, backend.Transport.KeyFile = cfg.EtcdCAFile, cfg.EtcdCertFile, cfg.EtcdKeyFile
	etcd := genericoptions.NewEtcdOptions(backend)
	etcd.DefaultStorageMediaType = runtime.ContentTypeProtobuf
	return etcd.ApplyTo(gc)
}

// Run serves until ctx ends.
func (s *Server) Run(ctx context.Context) error {
	defer func() {
		for _, c := range s.closers {
			c()
		}
	}()
	return s.Generic.PrepareRun().RunWithContext(ctx)
}

// versionInfo reports corral's version in /version next to the Kubernetes
// version it implements.
type versionInfo struct {
	basecompatibility.MutableEffectiveVersion
	corral string
}

func (v versionInfo) Info() *apimachineryversion.Info {
	info := v.MutableEffectiveVersion.Info()
	info.GitVersion = "v" + KubernetesVersion + "+corral"
	if v.corral != "" {
		info.GitCommit = v.corral
	}
	info.GitTreeState = "clean"
	return info
}

var _ rest.Storage = &REST{}
var _ authenticator.Token = &TokenAuthenticator{}
