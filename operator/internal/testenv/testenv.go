// Package testenv starts a real kube-apiserver and etcd (envtest) with the
// project's CRD installed and, optionally, the operator itself, for tests.
package testenv

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	fluxmetrics "github.com/fluxcd/pkg/runtime/metrics"
	"go.uber.org/zap/zapcore"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crenvtest "sigs.k8s.io/controller-runtime/pkg/envtest"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/yaml"

	"github.com/simulated-peering/simulated-peering/operator/internal/render"
	"github.com/simulated-peering/simulated-peering/operator/internal/setup"
	"github.com/simulated-peering/simulated-peering/test/envtest"
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
	// UIURL is the base URL of the operator's web view ("" without operator).
	UIURL string
	// Manager is the running operator's manager (nil without operator).
	Manager manager.Manager
	// Recorder holds the operator's gotk_* series (registered nowhere: a
	// test gathers its Collectors).
	Recorder *fluxmetrics.Recorder

	env    *crenvtest.Environment
	cancel context.CancelFunc
	done   chan error
}

// Option changes how the operator is set up.
type Option func(*setup.Options)

// WithoutPeersAPIAuth serves the peers API to anyone (benchmarks of the API
// alone); the operator as shipped always checks pod-bound tokens.
func WithoutPeersAPIAuth(o *setup.Options) { o.Unauthenticated = true }

// Start runs kube-apiserver and etcd with the CRDs installed (test/envtest)
// and, with withOperator, starts the operator's manager as main does.
func Start(withOperator bool, opts ...Option) (*Env, error) {
	logf.SetLogger(zap.New(zap.WriteTo(os.Stderr), zap.UseDevMode(true), zap.Level(logLevel())))
	apiserver, err := envtest.New()
	if err != nil {
		return nil, err
	}
	e := &Env{env: apiserver}
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
		if err := e.startOperator(opts); err != nil {
			e.Stop()
			return nil, err
		}
	}
	return e, nil
}

// startOperator runs the operator as it runs in a cluster: as a user with
// only the ClusterRole of config/rbac (generated from the code's markers),
// so a missing permission fails the tests.
func (e *Env) startOperator(opts []Option) error {
	cfg, err := e.operatorUser()
	if err != nil {
		return err
	}
	mgr, err := manager.New(cfg, manager.Options{
		Scheme:  setup.Scheme(),
		Cache:   setup.CacheOptions(),
		Metrics: metricsserver.Options{BindAddress: "0"},
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	listening, uiListening := make(chan net.Addr, 1), make(chan net.Addr, 1)
	options := setup.Options{
		Render:            RenderOptions,
		PeersAPIAddr:      "127.0.0.1:0",
		PeersAPIListening: func(a net.Addr) { listening <- a },
		UIAddr:            "127.0.0.1:0",
		UIListening:       func(a net.Addr) { uiListening <- a },
		MetricsRecorder:   fluxmetrics.NewRecorder(),
	}
	for _, o := range opts {
		o(&options)
	}
	if err := setup.Add(ctx, mgr, options); err != nil {
		cancel()
		return err
	}
	e.Manager, e.Recorder, e.cancel, e.done = mgr, options.MetricsRecorder, cancel, make(chan error, 1)
	go func() { e.done <- mgr.Start(ctx) }()
	for _, server := range []struct {
		listening <-chan net.Addr
		url       *string
	}{{listening, &e.PeersURL}, {uiListening, &e.UIURL}} {
		select {
		case a := <-server.listening:
			*server.url = "http://" + a.String()
		case err := <-e.done:
			return fmt.Errorf("operator stopped: %w", err)
		case <-time.After(30 * time.Second):
			return fmt.Errorf("the operator's servers did not start")
		}
	}
	return nil
}

// OperatorUser is the name the operator authenticates as in tests.
const OperatorUser = "peering-operator"

func (e *Env) operatorUser() (*rest.Config, error) {
	b, err := os.ReadFile(filepath.Join(envtest.RepoRoot(), "config", "rbac", "role.yaml"))
	if err != nil {
		return nil, err
	}
	role := &rbacv1.ClusterRole{}
	if err := yaml.Unmarshal(b, role); err != nil {
		return nil, fmt.Errorf("config/rbac/role.yaml: %w", err)
	}
	ctx := context.Background()
	if err := e.Client.Create(ctx, role); err != nil {
		return nil, err
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: OperatorUser},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role.Name},
		Subjects:   []rbacv1.Subject{{APIGroup: rbacv1.GroupName, Kind: rbacv1.UserKind, Name: OperatorUser}},
	}
	if err := e.Client.Create(ctx, binding); err != nil {
		return nil, err
	}
	user, err := e.env.AddUser(crenvtest.User{Name: OperatorUser}, e.Config)
	if err != nil {
		return nil, err
	}
	return user.Config(), nil
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

// NodeName is the node ReadyPod puts its pods on.
const NodeName = "envtest-node"

// ReadyPod does what the ReplicaSet controller and kubelet would (envtest
// has neither): a pod from rs's template, controlled by rs, Running and Ready
// with ip. An empty name is generated from the ReplicaSet's.
func ReadyPod(ctx context.Context, c client.Client, rs *appsv1.ReplicaSet, name, ip string) (*corev1.Pod, error) {
	pod, err := ScheduledPod(ctx, c, rs, name)
	if err != nil {
		return nil, err
	}
	return pod, MarkReady(ctx, c, pod, ip)
}

// ScheduledPod creates a pod from rs's template, controlled by rs, on
// NodeName, not yet Ready.
func ScheduledPod(ctx context.Context, c client.Client, rs *appsv1.ReplicaSet, name string) (*corev1.Pod, error) {
	return ScheduledPodOn(ctx, c, rs, name, NodeName)
}

// ScheduledPodOn is ScheduledPod on the given node (a name only: envtest has
// no nodes).
func ScheduledPodOn(ctx context.Context, c client.Client, rs *appsv1.ReplicaSet, name, node string) (*corev1.Pod, error) {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:            name,
			Namespace:       rs.Namespace,
			Labels:          rs.Spec.Template.Labels,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(rs, appsv1.SchemeGroupVersion.WithKind("ReplicaSet"))},
		},
		Spec: rs.Spec.Template.Spec,
	}
	pod.Spec.NodeName = node // as if scheduled: there is no scheduler here
	if name == "" {
		pod.GenerateName = rs.Name + "-"
	}
	if err := c.Create(ctx, pod); err != nil {
		return nil, err
	}
	return pod, nil
}

// MarkReady makes pod Running and Ready with ip, as the kubelet would.
func MarkReady(ctx context.Context, c client.Client, pod *corev1.Pod, ip string) error {
	pod.Status = corev1.PodStatus{
		Phase: corev1.PodRunning,
		PodIP: ip,
		Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue,
			LastTransitionTime: metav1.Now()}},
	}
	return c.Status().Update(ctx, pod)
}

// PodToken mints a token bound to pod for audience with the TokenRequest
// API, as the kubelet does for a projected ServiceAccount token.
func PodToken(ctx context.Context, c client.Client, pod *corev1.Pod, audience string) (string, error) {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Namespace: pod.Namespace, Name: pod.Spec.ServiceAccountName}}
	request := &authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{
		Audiences:         []string{audience},
		ExpirationSeconds: ptr.To[int64](600),
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID},
	}}
	if err := c.SubResource("token").Create(ctx, sa, request); err != nil {
		return "", fmt.Errorf("minting a token for pod %s: %w", pod.Name, err)
	}
	return request.Status.Token, nil
}

// ServiceAccountSigner is the key envtest's API server signs ServiceAccount
// tokens with, so a test can make one the API server would have issued (an
// expired one, say, which the TokenRequest API never mints).
func (e *Env) ServiceAccountSigner() (crypto.Signer, error) {
	b, err := os.ReadFile(filepath.Join(e.env.ControlPlane.GetAPIServer().CertDir, "sa-signer.key"))
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(b)
	if block == nil {
		return nil, fmt.Errorf("sa-signer.key: no PEM block")
	}
	key, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	signer, ok := key.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("sa-signer.key: %T cannot sign", key)
	}
	return signer, nil
}
