package host

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/client-go/kubernetes"

	"corral/agent"
)

// Config is one real node.
type Config struct {
	// Client talks to the API server as this node.
	Client kubernetes.Interface
	// DataDir holds containerd's state, pod volumes and logs, images to
	// import (DataDir/images) and the CNI config.
	DataDir string
	// NodeName defaults to the host name; NodeIP to the first non-loopback
	// IPv4 address. The agent's API listens on BindAddress (default
	// NodeIP) and AgentPort (default 10250).
	NodeName, NodeIP, BindAddress string
	AgentPort                     int
	// ContainerRuntimeEndpoint uses an existing CRI socket instead of a
	// supervised containerd.
	ContainerRuntimeEndpoint string
	// ClusterCIDR and ServiceCIDR are routed to blackholes on the node so
	// pod and service traffic never leaves through the default route.
	ClusterCIDR, ServiceCIDR string
	// CNIBridge names the pods' bridge (default corral0).
	CNIBridge string
	// ClientCAFile is the cluster CA: only clients with a certificate it
	// signed (the API server) may use the agent's API.
	ClientCAFile string
	// Labels are added to the node.
	Labels map[string]string
	// PressureThresholds are the hard eviction thresholds behind the
	// node's pressure conditions (nil: agent.DefaultThresholds, kubelet's).
	PressureThresholds *agent.Thresholds
}

// complete fills defaults and checks the config.
func (c *Config) complete() error {
	if c.Client == nil {
		return errors.New("host: no API client")
	}
	if c.DataDir == "" {
		return errors.New("host: no data directory")
	}
	if c.NodeName == "" {
		h, err := os.Hostname()
		if err != nil {
			return err
		}
		c.NodeName = strings.ToLower(h)
	}
	if c.NodeIP == "" {
		ip, err := firstAddress()
		if err != nil {
			return err
		}
		c.NodeIP = ip
	} else if net.ParseIP(c.NodeIP) == nil {
		return fmt.Errorf("--node-ip %q is not an IP address", c.NodeIP)
	}
	if c.BindAddress == "" {
		c.BindAddress = c.NodeIP
	}
	if c.AgentPort == 0 {
		c.AgentPort = 10250
	}
	if c.CNIBridge == "" {
		c.CNIBridge = "corral0"
	}
	for _, cidr := range []string{c.ClusterCIDR, c.ServiceCIDR} {
		if _, _, err := net.ParseCIDR(cidr); err != nil {
			return fmt.Errorf("host: cluster and service CIDRs are required: %w", err)
		}
	}
	c.DataDir = filepath.Clean(c.DataDir)
	return nil
}

// firstAddress is the first non-loopback IPv4 address of this machine.
func firstAddress() (string, error) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return "", err
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && n.IP.To4() != nil {
			return n.IP.String(), nil
		}
	}
	return "", errors.New("host: no non-loopback IPv4 address; pass --node-ip")
}
