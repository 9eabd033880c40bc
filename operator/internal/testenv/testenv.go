// Package testenv starts a real kube-apiserver and etcd (envtest) with the
// project's CRD installed and, optionally, the operator itself, for tests.
package testenv

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"time"

	fluxmetrics "github.com/fluxcd/pkg/runtime/metrics"
	"go.uber.org/zap/zapcore"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/simulated-peering/simulated-peering/operator/internal/render"
	"github.com/simulated-peering/simulated-peering/operator/internal/setup"
)

// RenderOptions are the operator settings tests run with.
var RenderOptions = render.Options{
	DefaultImage:      "simulated-peering/server:test",
	PeersURL:          "http://peering-operator.peering-system.svc:8082",
	OperatorNamespace: "peering-system",
	OperatorLabels:    map[string]string{render.LabelName: setup.ControllerName},
	PeersAPIPort:      8082,
}

// Env is a running API server, a client, and (if started) the operator.
type Env struct {
	Config *rest.Config
	Client client.Client
	// PeersURL is the base URL of the operator's peers API ("" without operator).
	PeersURL string
	// Manager is the running operator's manager (nil without operator).
	Manager manager.Manager

	env    *envtest.Environment
	cancel context.CancelFunc
	done   chan error
}

// RepoRoot is the checkout this package lives in.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..", "..")
}

// Start runs kube-apiserver and etcd from KUBEBUILDER_ASSETS (default: the
// checkout's bin/, filled by `make test-bins`), installs the CRDs and, with
// withOperator, starts the operator's manager as main does.
func Start(withOperator bool) (*Env, error) {
	logf.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.UseDevMode(true), zap.Level(logLevel())))
	assets := os.Getenv("KUBEBUILDER_ASSETS")
	if assets == "" {
		assets = filepath.Join(RepoRoot(), "bin")
	}
	for _, bin := range []string{"kube-apiserver", "etcd"} {
		if _, err := os.Stat(filepath.Join(assets, bin)); err != nil {
			return nil, fmt.Errorf("%s not found in %s: run `make test-bins` (builds it from the Go module proxy)", bin, assets)
		}
	}
	e := &Env{env: &envtest.Environment{
		BinaryAssetsDirectory: assets,
		CRDDirectoryPaths:     []string{filepath.Join(RepoRoot(), "config", "crd", "bases")},
		ErrorIfCRDPathMissing: true,
	}}
	cfg, err := e.env.Start()
	if err != nil {
		return nil, fmt.Errorf("starting envtest: %w", err)
	}
	e.Config = cfg
	if e.Client, err = client.New(cfg, client.Options{Scheme: setup.Scheme()}); err != nil {
		e.Stop()
		return nil, err
	}
	if withOperator {
		if err := e.startOperator(); err != nil {
			e.Stop()
			return nil, err
		}
	}
	return e, nil
}

func (e *Env) startOperator() error {
	mgr, err := manager.New(e.Config, manager.Options{
		Scheme:  setup.Scheme(),
		Cache:   setup.CacheOptions(),
		Metrics: metricsserver.Options{BindAddress: "0"},
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	listening := make(chan net.Addr, 1)
	if err := setup.Add(ctx, mgr, setup.Options{
		Render:            RenderOptions,
		PeersAPIAddr:      "127.0.0.1:0",
		PeersAPIListening: func(a net.Addr) { listening <- a },
		MetricsRecorder:   fluxmetrics.NewRecorder(),
	}); err != nil {
		cancel()
		return err
	}
	e.Manager, e.cancel, e.done = mgr, cancel, make(chan error, 1)
	go func() { e.done <- mgr.Start(ctx) }()
	select {
	case a := <-listening:
		e.PeersURL = "http://" + a.String()
	case err := <-e.done:
		return fmt.Errorf("operator stopped: %w", err)
	case <-time.After(30 * time.Second):
		return fmt.Errorf("peers API did not start")
	}
	return nil
}

// Stop stops the operator, then the API server.
func (e *Env) Stop() error {
	if e.cancel != nil {
		e.cancel()
		<-e.done
	}
	return e.env.Stop()
}

// logLevel shows only errors unless TEST_VERBOSE is set.
func logLevel() zapcore.Level {
	if os.Getenv("TEST_VERBOSE") != "" {
		return zapcore.DebugLevel
	}
	return zapcore.ErrorLevel
}
