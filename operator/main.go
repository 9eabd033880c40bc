// Command operator runs the PeerGroup controller and the peers API.
package main

import (
	"flag"
	"net"
	"os"
	"strconv"

	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/simulated-peering/simulated-peering/operator/internal/quietstop"
	"github.com/simulated-peering/simulated-peering/operator/internal/render"
	"github.com/simulated-peering/simulated-peering/operator/internal/setup"
)

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}

// The metrics endpoint asks the API server who calls and whether they may.
// +kubebuilder:rbac:groups=authentication.k8s.io,resources=tokenreviews,verbs=create
// +kubebuilder:rbac:groups=authorization.k8s.io,resources=subjectaccessreviews,verbs=create

func main() {
	var (
		metricsAddr = flag.String("metrics-bind-address", ":8080", "address of the Prometheus /metrics endpoint (HTTPS; callers need a token allowed to get /metrics: config/rbac/metrics_reader_role.yaml)")
		probeAddr   = flag.String("health-probe-bind-address", ":8081", "address of /healthz and /readyz")
		peersAddr   = flag.String("peers-api-bind-address", ":8082", "address the peers API listens on")
		peersURL    = flag.String("peers-api-url", envOr("PEERS_API_URL", "http://peering-operator.peering-system.svc:8082"), "the peers API as pods reach it; goes into their PEERS_URL (env PEERS_API_URL)")
		serverImage = flag.String("server-image", envOr("SERVER_IMAGE", "simulated-peering/server:latest"), "server image for PeerGroups that name none (env SERVER_IMAGE)")
		namespace   = flag.String("operator-namespace", envOr("POD_NAMESPACE", "peering-system"), "the operator's namespace, which NetworkPolicies let servers reach (env POD_NAMESPACE)")
		uiAddr      = flag.String("ui-bind-address", "127.0.0.1:8084", "address of the web view; the loopback default lets only kubectl port-forward reach it (\"\" turns it off)")
		leaderElect = flag.Bool("leader-elect", false, "elect a leader so only one replica reconciles")
	)
	zapOpts := zap.Options{}
	zapOpts.BindFlags(flag.CommandLine)
	flag.Parse()
	ctrl.SetLogger(quietstop.Wrap(zap.New(zap.UseFlagOptions(&zapOpts))))
	log := ctrl.Log.WithName("setup")

	_, portText, err := net.SplitHostPort(*peersAddr)
	port, _ := strconv.Atoi(portText)
	if err != nil || port == 0 {
		log.Error(err, "invalid --peers-api-bind-address: want host:port", "value", *peersAddr)
		os.Exit(2)
	}
	mgr, err := ctrl.NewManager(ctrl.GetConfigOrDie(), ctrl.Options{
		Scheme: setup.Scheme(),
		Cache:  setup.CacheOptions(),
		// Authenticated (TokenReview) and authorized (SubjectAccessReview
		// for GET /metrics) over HTTPS with a self-signed certificate, as the
		// kubebuilder scaffold does: per-group health is not for everyone.
		Metrics: metricsserver.Options{BindAddress: *metricsAddr, SecureServing: true,
			FilterProvider: filters.WithAuthenticationAndAuthorization},
		HealthProbeBindAddress:  *probeAddr,
		LeaderElection:          *leaderElect,
		LeaderElectionID:        "peering-operator.simulated-peering.io",
		LeaderElectionNamespace: *namespace,
		// A replica that stops (a rollout, a drain) hands the lease over at
		// once instead of making the other wait out its 15 s: link health and
		// status resume within a retry period (2 s). main returns right after
		// the manager, as this requires.
		LeaderElectionReleaseOnCancel: true,
	})
	if err != nil {
		log.Error(err, "creating the manager")
		os.Exit(1)
	}
	ctx := ctrl.SetupSignalHandler()
	if err := setup.Add(ctx, mgr, setup.Options{
		PeersAPIAddr: *peersAddr,
		UIAddr:       *uiAddr,
		Render: render.Options{
			DefaultImage:      *serverImage,
			PeersURL:          *peersURL,
			OperatorNamespace: *namespace,
			OperatorLabels:    map[string]string{render.LabelName: setup.ControllerName},
			PeersAPIPort:      int32(port),
		},
	}); err != nil {
		log.Error(err, "setting up the operator")
		os.Exit(1)
	}
	mgr.AddHealthzCheck("healthz", healthz.Ping) // readiness checks: setup.Add
	log.Info("starting", "peersAPI", *peersAddr, "peersURL", *peersURL, "ui", *uiAddr, "serverImage", *serverImage, "leaderElection", *leaderElect)
	if err := mgr.Start(ctx); err != nil {
		log.Error(err, "manager stopped")
		os.Exit(1)
	}
}
