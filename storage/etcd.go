package storage

import (
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"google.golang.org/grpc/grpclog"
)

// EmbeddedConfig says where and how the embedded etcd runs.
type EmbeddedConfig struct {
	// DataDir holds etcd's member directory.
	DataDir string
	// ClientURL is where etcd listens for clients, e.g. http://127.0.0.1:2379.
	// Port 0 picks a free port.
	ClientURL string
	// PeerURL is where etcd listens for peers.
	PeerURL string
	// Fast uses short raft ticks (tests).
	Fast bool
}

// Embedded is a running embedded etcd.
type Embedded struct {
	etcd      *embed.Etcd
	Endpoints []string
}

// StartEmbedded starts a single-member etcd and waits until it serves.
func StartEmbedded(ctx context.Context, cfg EmbeddedConfig) (*Embedded, error) {
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return nil, err
	}
	ec := embed.NewConfig()
	ec.Name = "corral"
	ec.Dir = filepath.Join(cfg.DataDir, "member-data")
	ec.LogLevel = "error"
	ec.Logger = "zap"
	ec.ZapLoggerBuilder = embed.NewZapLoggerBuilder(zap.NewNop())
	client, err := url.Parse(orDefault(cfg.ClientURL, "http://127.0.0.1:2379"))
	if err != nil {
		return nil, fmt.Errorf("etcd client url: %w", err)
	}
	peer, err := url.Parse(orDefault(cfg.PeerURL, "http://127.0.0.1:2380"))
	if err != nil {
		return nil, fmt.Errorf("etcd peer url: %w", err)
	}
	ec.ListenClientUrls, ec.AdvertiseClientUrls = []url.URL{*client}, []url.URL{*client}
	ec.ListenPeerUrls, ec.AdvertisePeerUrls = []url.URL{*peer}, []url.URL{*peer}
	ec.InitialCluster = ec.InitialClusterFromName(ec.Name)
	// Keep an hour of history for watches to resume from.
	ec.AutoCompactionMode = "periodic"
	ec.AutoCompactionRetention = "1h"
	ec.QuotaBackendBytes = 2 << 30
	// Periodic progress notifications keep every watch cache's revision
	// current even for resources nobody writes, so watches and lists that
	// must be served at the latest revision do not wait for one.
	ec.WatchProgressNotifyInterval = 5 * time.Second
	if cfg.Fast {
		ec.TickMs, ec.ElectionMs = 10, 100
	}
	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, fmt.Errorf("start embedded etcd: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("embedded etcd: %w", err)
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, fmt.Errorf("embedded etcd did not become ready within 60s")
	case <-ctx.Done():
		e.Close()
		return nil, ctx.Err()
	}
	var endpoints []string
	for _, l := range e.Clients {
		endpoints = append(endpoints, "http://"+l.Addr().String())
	}
	return &Embedded{etcd: e, Endpoints: endpoints}, nil
}

// Close stops etcd.
func (e *Embedded) Close() { e.etcd.Close() }

// NewClient connects to etcd endpoints.
func NewClient(endpoints []string) (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 10 * time.Second,
		Logger:      zap.NewNop(),
	})
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func init() {
	// etcd's gRPC client logs every refused connection; errors reach the
	// caller anyway.
	grpclog.SetLoggerV2(grpclog.NewLoggerV2(io.Discard, io.Discard, io.Discard))
}
