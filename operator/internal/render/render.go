// Package render turns a PeerGroup into the Kubernetes objects that run it.
// Everything here is a pure function of its inputs, so it is golden-tested.
package render

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"path"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/utils/ptr"

	"github.com/simulated-peering/simulated-peering/operator/api/peers"
	"github.com/simulated-peering/simulated-peering/operator/api/v1alpha1"
)

// Label keys.
const (
	LabelName         = "app.kubernetes.io/name"
	LabelInstance     = "app.kubernetes.io/instance"
	LabelManagedBy    = "app.kubernetes.io/managed-by"
	LabelPartOf       = "app.kubernetes.io/part-of"
	LabelTemplateHash = "peering.simulated-peering.io/template-hash"
	// LabelMetricsScraper on a pod (any namespace) lets it scrape servers' /metrics.
	LabelMetricsScraper = "peering.simulated-peering.io/metrics-scraper"

	ServerName = "peering-server"
	ManagedBy  = "peering-operator"
	PartOf     = "simulated-peering"
	// ContainerName is the server container in every pod.
	ContainerName = "server"
	portName      = "ping"
	tokenVolume   = "peers-token"
	// ServerUID is the distroless "nonroot" user the server image runs as.
	ServerUID = 65532
)

// Options are the operator-wide settings that shape every group.
type Options struct {
	// DefaultImage is used when spec.image is empty.
	DefaultImage string
	// PeersURL is the peers API as pods reach it, e.g.
	// "http://peering-operator.peering-system.svc:8082".
	PeersURL string
	// OperatorNamespace and OperatorLabels select the operator's pods, which
	// the NetworkPolicy lets servers reach; PeersAPIPort is their port.
	OperatorNamespace string
	OperatorLabels    map[string]string
	PeersAPIPort      int32
}

// SelectorLabels select every pod of a group, whatever its template.
func SelectorLabels(pg *v1alpha1.PeerGroup) map[string]string {
	return map[string]string{LabelName: ServerName, LabelInstance: pg.Name}
}

// Labels are the labels of every object rendered for a group.
func Labels(pg *v1alpha1.PeerGroup) map[string]string {
	l := SelectorLabels(pg)
	l[LabelManagedBy] = ManagedBy
	l[LabelPartOf] = PartOf
	return l
}

// GroupOf is the PeerGroup a server pod belongs to, read from its labels;
// false for any other object.
func GroupOf(o metav1.Object) (types.NamespacedName, bool) {
	l := o.GetLabels()
	if l[LabelName] != ServerName || l[LabelInstance] == "" {
		return types.NamespacedName{}, false
	}
	return types.NamespacedName{Namespace: o.GetNamespace(), Name: l[LabelInstance]}, true
}

// Selector is the label selector string of a group's pods (status.selector).
func Selector(pg *v1alpha1.PeerGroup) string {
	return LabelInstance + "=" + pg.Name + "," + LabelName + "=" + ServerName
}

func objectMeta(pg *v1alpha1.PeerGroup, name string) metav1.ObjectMeta {
	return metav1.ObjectMeta{
		Name:            name,
		Namespace:       pg.Namespace,
		Labels:          Labels(pg),
		OwnerReferences: []metav1.OwnerReference{ControllerRef(pg)},
	}
}

// ControllerRef makes pg the controller of an object: the garbage collector
// deletes it with pg (blockOwnerDeletion needs update on peergroups/finalizers).
func ControllerRef(pg *v1alpha1.PeerGroup) metav1.OwnerReference {
	return metav1.OwnerReference{
		APIVersion:         v1alpha1.GroupVersion.String(),
		Kind:               "PeerGroup",
		Name:               pg.Name,
		UID:                pg.UID,
		Controller:         ptr.To(true),
		BlockOwnerDeletion: ptr.To(true),
	}
}

// TopologyKeys the group's pods spread over: nodes, and zones where nodes
// carry the label (a key no node has is ignored).
var TopologyKeys = []string{corev1.LabelHostname, corev1.LabelTopologyZone}

// spread places the group's pods evenly over nodes and zones: a mesh on one
// node tests one bridge. ScheduleAnyway, because a mesh on a full cluster
// should still run. Only pods of the same template count (matchLabelKeys
// takes the template-hash label from each new pod), so a roll spreads the
// new pods as well as the old ones were.
func spread(pg *v1alpha1.PeerGroup) []corev1.TopologySpreadConstraint {
	var out []corev1.TopologySpreadConstraint
	for _, key := range TopologyKeys {
		out = append(out, corev1.TopologySpreadConstraint{
			MaxSkew:           1,
			TopologyKey:       key,
			WhenUnsatisfiable: corev1.ScheduleAnyway,
			LabelSelector:     &metav1.LabelSelector{MatchLabels: SelectorLabels(pg)},
			MatchLabelKeys:    []string{LabelTemplateHash},
		})
	}
	return out
}

// PodTemplate is the server pod of a group, without the template-hash label.
func PodTemplate(pg *v1alpha1.PeerGroup, opts Options) corev1.PodTemplateSpec {
	port := pg.ServerPort()
	image := pg.Spec.Image
	if image == "" {
		image = opts.DefaultImage
	}
	fieldEnv := func(name, path string) corev1.EnvVar {
		return corev1.EnvVar{Name: name, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: path}}}
	}
	probe := func(path string, period int32) *corev1.Probe {
		return &corev1.Probe{
			ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: path, Port: intstrName(portName)}},
			PeriodSeconds: period, TimeoutSeconds: 1, FailureThreshold: 3, SuccessThreshold: 1, // the API server's defaults: rendered, so a compare with the stored object holds
		}
	}
	tokenDir, tokenName := path.Split(peers.TokenFile)
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: Labels(pg)},
		Spec: corev1.PodSpec{
			// Its own ServiceAccount, with no API token: only the projected
			// one below, which the Kubernetes API does not accept (its
			// audience is the peers API's) and which names this pod.
			ServiceAccountName:           ServiceAccountName(pg),
			AutomountServiceAccountToken: ptr.To(false),
			Volumes: []corev1.Volume{{Name: tokenVolume, VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				DefaultMode: ptr.To[int32](0o444), // the API server's default: rendered, so a compare with the stored object holds
				Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
					Audience: peers.TokenAudience, ExpirationSeconds: ptr.To[int64](peers.TokenExpirationSeconds), Path: tokenName,
				}}},
			}}}},
			EnableServiceLinks:            ptr.To(false),
			TerminationGracePeriodSeconds: ptr.To[int64](10),
			TopologySpreadConstraints:     spread(pg),
			SecurityContext: &corev1.PodSecurityContext{
				RunAsNonRoot:   ptr.To(true),
				RunAsUser:      ptr.To[int64](ServerUID),
				RunAsGroup:     ptr.To[int64](ServerUID),
				SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
			},
			Containers: []corev1.Container{{
				Name:            ContainerName,
				Image:           image,
				ImagePullPolicy: corev1.PullIfNotPresent,
				Ports:           []corev1.ContainerPort{{Name: portName, ContainerPort: port, Protocol: corev1.ProtocolTCP}},
				Env: append([]corev1.EnvVar{
					fieldEnv("POD_NAME", "metadata.name"),
					fieldEnv("POD_NAMESPACE", "metadata.namespace"),
					fieldEnv("POD_IP", "status.podIP"),
					fieldEnv("NODE_NAME", "spec.nodeName"),
					{Name: "PORT", Value: strconv.Itoa(int(port))},
					{Name: "PEERS_URL", Value: opts.PeersURL + peers.Path(pg.Namespace, pg.Name)},
					{Name: "PEERS_TOKEN_FILE", Value: peers.TokenFile},
				}, metricsEnv(pg)...),
				VolumeMounts:   []corev1.VolumeMount{{Name: tokenVolume, MountPath: path.Clean(tokenDir), ReadOnly: true}},
				ReadinessProbe: probe("/readyz", 2),
				LivenessProbe:  probe("/healthz", 10),
				Resources:      Resources(pg.Spec.Resources),
				SecurityContext: &corev1.SecurityContext{
					AllowPrivilegeEscalation: ptr.To(false),
					ReadOnlyRootFilesystem:   ptr.To(true),
					RunAsNonRoot:             ptr.To(true),
					Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
					SeccompProfile:           &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
				},
			}},
		},
	}
}

// Resources returns the container resources with limits equal to requests
// wherever a limit is missing (QoS Guaranteed); nil gets a small default.
func Resources(in *corev1.ResourceRequirements) corev1.ResourceRequirements {
	if in == nil {
		small := corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("32Mi")}
		in = &corev1.ResourceRequirements{Requests: small}
	}
	out := *in.DeepCopy()
	if out.Requests == nil {
		out.Requests = corev1.ResourceList{}
	}
	if out.Limits == nil {
		out.Limits = corev1.ResourceList{}
	}
	// The server writes nothing but its log, which the kubelet counts as
	// ephemeral storage and rotates (5 files of 10 MiB by default).
	if _, set := out.Requests[corev1.ResourceEphemeralStorage]; !set {
		if limit, ok := out.Limits[corev1.ResourceEphemeralStorage]; ok {
			out.Requests[corev1.ResourceEphemeralStorage] = limit
		} else {
			out.Requests[corev1.ResourceEphemeralStorage] = DefaultEphemeralStorage
		}
	}
	for name, q := range out.Requests {
		if _, ok := out.Limits[name]; !ok {
			out.Limits[name] = q
		}
	}
	return out
}

// DefaultEphemeralStorage bounds a server's log on its node.
var DefaultEphemeralStorage = resource.MustParse("128Mi")

// TemplateHash identifies a pod template: a new hash means new pods.
func TemplateHash(t corev1.PodTemplateSpec) string {
	b, err := json.Marshal(t)
	if err != nil {
		panic(fmt.Sprintf("marshalling a pod template: %v", err)) // cannot happen for these types
	}
	h := fnv.New32a()
	h.Write(b)
	return rand.SafeEncodeString(strconv.FormatUint(uint64(h.Sum32()), 10))
}

// metricsEnv sets METRICS_COMPAT when the group asks for another tool's
// metrics.
func metricsEnv(pg *v1alpha1.PeerGroup) []corev1.EnvVar {
	if pg.Spec.Metrics == nil || pg.Spec.Metrics.Compat == "" {
		return nil
	}
	return []corev1.EnvVar{{Name: "METRICS_COMPAT", Value: pg.Spec.Metrics.Compat}}
}
