package v1alpha1

import (
	"time"

	"github.com/fluxcd/pkg/apis/meta"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Defaults the CRD applies at admission; the operator uses the same values
// when it reads an object the API server has not defaulted (unit tests).
const (
	DefaultReplicas     = 3
	DefaultPingInterval = 60 * time.Second
	DefaultPingTimeout  = 2 * time.Second
	DefaultPort         = 8080
	// DefaultProgressDeadline matches a Deployment's.
	DefaultProgressDeadline = 10 * time.Minute
)

// PeerGroupSpec says how many servers to run and how they ping each other.
// +kubebuilder:validation:XValidation:rule="!has(self.pingTimeout) || !has(self.pingInterval) || duration(self.pingTimeout) < duration(self.pingInterval)",message="pingTimeout must be shorter than pingInterval"
type PeerGroupSpec struct {
	// Replicas is the number of servers. Also the scale subresource, so
	// `kubectl scale peergroup/<name> --replicas=N` works.
	// +kubebuilder:default=3
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	// +optional
	Replicas *int32 `json:"replicas,omitempty"`

	// PingInterval is how often each server pings each of its peers (a Go
	// duration such as "10s"; at least 1s). Changing it never restarts a pod.
	// +kubebuilder:default="60s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s')",message="pingInterval must be at least 1s"
	// +optional
	PingInterval *metav1.Duration `json:"pingInterval,omitempty"`

	// PingTimeout is the per-ping timeout (at least 100ms, shorter than
	// pingInterval).
	// +kubebuilder:default="2s"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('100ms')",message="pingTimeout must be at least 100ms"
	// +optional
	PingTimeout *metav1.Duration `json:"pingTimeout,omitempty"`

	// MaxPeersPerPod limits each server to k peers: the k pods after it on a
	// ring ordered by a hash of pod names, so every pod is pinged by exactly
	// k others and the mesh costs O(N·k) pings instead of O(N²). 0 means
	// every server pings every other one.
	// +kubebuilder:validation:Minimum=0
	// +kubebuilder:validation:Maximum=1000
	// +optional
	MaxPeersPerPod int32 `json:"maxPeersPerPod,omitempty"`

	// Image is the server image; empty means the operator's default.
	// Changing it rolls the pods.
	// +kubebuilder:validation:MaxLength=512
	// +optional
	Image string `json:"image,omitempty"`

	// Port is the server's port. Changing it rolls the pods.
	// +kubebuilder:default=8080
	// +kubebuilder:validation:Minimum=1
	// +kubebuilder:validation:Maximum=65535
	// +optional
	Port int32 `json:"port,omitempty"`

	// ProgressDeadline is how long pods may take to become Ready after a
	// change (a roll, a scale-up, a new group) before the group is Stalled
	// with reason ProgressDeadlineExceeded. It recovers by itself when the
	// pods come up. Default 10m, at least 1s.
	// +kubebuilder:default="10m"
	// +kubebuilder:validation:Type=string
	// +kubebuilder:validation:Pattern=`^([0-9]+(\.[0-9]+)?(ms|s|m|h))+$`
	// +kubebuilder:validation:XValidation:rule="duration(self) >= duration('1s')",message="progressDeadline must be at least 1s"
	// +optional
	ProgressDeadline *metav1.Duration `json:"progressDeadline,omitempty"`

	// Resources of the server container. Limits default to the requests so
	// pods get QoS Guaranteed; when unset, a small Guaranteed default applies
	// (100m CPU, 32Mi), which holds a server pinging 999 peers (the most a
	// group has; about 20Mi). Give at least 32Mi of memory when setting them.
	// The CPU limit shows in the latency figures: the kernel stops a server
	// that has spent it until the next 100 ms period (at 50m, about 1% of a
	// 6-pod mesh's pings took 10-100 ms; at 100m, 1 in 2,690).
	// Ephemeral storage (the server's log, which the kubelet rotates)
	// defaults to 128Mi. Changing them rolls the pods.
	// +optional
	Resources *corev1.ResourceRequirements `json:"resources,omitempty"`

	// Metrics changes what the servers export on /metrics.
	// +optional
	Metrics *MetricsSpec `json:"metrics,omitempty"`
}

// MetricsSpec: the servers' own metrics are always exported.
type MetricsSpec struct {
	// Compat also exports another tool's metric names, labels and buckets,
	// so its dashboards and alerts work unchanged: "goldpinger"
	// (goldpinger_*, goldpinger_instance being the node). Changing it
	// rolls the pods.
	// +kubebuilder:validation:Enum=goldpinger
	// +optional
	Compat string `json:"compat,omitempty"`
}

// PeerGroupStatus is what the operator observed.
type PeerGroupStatus struct {
	// ObservedGeneration is the generation the status describes.
	// +optional
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`

	// Conditions: Ready, Reconciling and Stalled (kstatus).
	// +optional
	Conditions []metav1.Condition `json:"conditions,omitempty"`

	// Replicas is the number of the group's pods that exist (scale subresource).
	// +optional
	Replicas int32 `json:"replicas"`

	// ReadyReplicas is the number of the group's pods that are Ready.
	// +optional
	ReadyReplicas int32 `json:"readyReplicas"`

	// Selector is the label selector of the group's pods (scale subresource).
	// +optional
	Selector string `json:"selector,omitempty"`

	// ProgressingSince is when the group started waiting for pods (a roll,
	// a scale-up); cleared once all are Ready. ProgressDeadline counts from it.
	// +optional
	ProgressingSince *metav1.Time `json:"progressingSince,omitempty"`

	// PublishedPeers is how many pods the peers API currently publishes
	// (Ready, with an IP, not terminating). A count, not the addresses: a
	// list of 1,000 addresses would be rewritten on every change.
	// +optional
	PublishedPeers int32 `json:"publishedPeers"`

	// Links counts the group's links from its servers' latest /links
	// reports, collected by the operator once per pingInterval.
	// +optional
	Links *LinksStatus `json:"links,omitempty"`

	// Suspects are where the mesh breaks, most severe first (at most 10):
	// the fewest pods, nodes, zones or single paths (Link) that explain its
	// down and lossy links, each seen in consecutive rounds before it is
	// listed and before it clears.
	// +optional
	// +kubebuilder:validation:MaxItems=10
	Suspects []Suspect `json:"suspects,omitempty"`

	meta.ReconcileRequestStatus `json:",inline"`
}

// LinksStatus counts links between pods that count: Ready, not
// terminating, and Ready for at least one interval.
type LinksStatus struct {
	// Summary is "<up>/<expected>", with " (<n> lossy)" when up links lose
	// packets, or "pending" before the first round, for kubectl get.
	Summary string `json:"summary"`
	// Expected is how many links the fan-out asks for.
	Expected int32 `json:"expected"`
	// Reported links are in a report (their pinger answered /links).
	Reported   int32 `json:"reported"`
	Up         int32 `json:"up"`
	Down       int32 `json:"down"`
	Unmeasured int32 `json:"unmeasured"`
	// Degraded up links are through a Degraded suspect: they lose packets
	// that TCP retransmits.
	// +optional
	Degraded int32 `json:"degraded,omitempty"`
	// UnreportedPods did not answer /links: not the same as their links being down.
	// +optional
	UnreportedPods int32 `json:"unreportedPods,omitempty"`
	// P50 and P99 of the round-trip times of the successful pings of every
	// up link's window, pooled: the upper bound of the bucket (1-2-5 steps
	// from 50µs) the quantile falls in. It is written again only when it
	// moves three buckets (a factor of ten) or more for 25 rounds in a row
	// (longer than a link's window of 20 pings, so one burst is not written;
	// 3 rounds while the windows may still hold a new group's first pings).
	// +optional
	P50 string `json:"p50,omitempty"`
	// +optional
	P99 string `json:"p99,omitempty"`
	// Samples is how many pings the up links' windows held when P50 and P99
	// were written, or when the count last doubled or halved.
	// +optional
	Samples int32 `json:"samples,omitempty"`
	// Suspect names the first suspect, "<Kind>/<name>", for kubectl get.
	// +optional
	Suspect string `json:"suspect,omitempty"`
}

// Suspect is a place the mesh breaks.
type Suspect struct {
	// +kubebuilder:validation:Enum=Pod;Node;Zone;Link
	Kind string `json:"kind"`
	// Name of the pod, node or zone; a Link is "<from>→<to>" (one way) or
	// "<a>↔<b>" (both ways).
	Name string `json:"name"`
	// Node is a suspect pod's node.
	// +optional
	Node string `json:"node,omitempty"`
	// Reason: Unreachable (its inbound links fail), CannotReach (its
	// outbound links do), or both ("CannotReach,Unreachable").
	Reason string `json:"reason"`
	// Severity: Down (its links fail) or Degraded (they lose packets that
	// TCP retransmits).
	// +kubebuilder:validation:Enum=Down;Degraded
	// +optional
	Severity string `json:"severity,omitempty"`
	// ReportedBy is "<agreeing>/<observing>": how many of the links that
	// observe it are down (Down) or counted for its loss (Degraded).
	ReportedBy string `json:"reportedBy"`
	// Loss is the retransmitted fraction of its links' TCP segments, e.g.
	// "18% of 640 segments" (Degraded).
	// +optional
	Loss string `json:"loss,omitempty"`
	// Note says what the data cannot tell apart: the only pod of a node,
	// a target with one observer, a cut between the only two zones.
	// +optional
	Note string `json:"note,omitempty"`
	// Since is when it was first seen (Down: when its oldest link went down).
	Since metav1.Time `json:"since"`
}

// PeerGroup runs N servers that ping each other every pingInterval.
// Its name becomes a Service name and a label value, so it must be a DNS label.
// +kubebuilder:validation:XValidation:rule="self.metadata.name.size() <= 63 && self.metadata.name.matches('^[a-z]([-a-z0-9]*[a-z0-9])?$')",message="metadata.name must be at most 63 characters of lowercase letters, digits and '-', start with a letter and end with a letter or digit: it names the group's Service and labels its pods"
// +kubebuilder:object:root=true
// +kubebuilder:subresource:status
// +kubebuilder:subresource:scale:specpath=.spec.replicas,statuspath=.status.replicas,selectorpath=.status.selector
// +kubebuilder:resource:shortName=pg,categories=peering
// +kubebuilder:printcolumn:name="Replicas",type=integer,JSONPath=`.spec.replicas`
// +kubebuilder:printcolumn:name="Ready",type=integer,JSONPath=`.status.readyReplicas`
// +kubebuilder:printcolumn:name="Interval",type=string,JSONPath=`.spec.pingInterval`
// +kubebuilder:printcolumn:name="Links",type=string,JSONPath=`.status.links.summary`
// +kubebuilder:printcolumn:name="P99",type=string,JSONPath=`.status.links.p99`
// +kubebuilder:printcolumn:name="Suspect",type=string,JSONPath=`.status.links.suspect`
// +kubebuilder:printcolumn:name="Status",type=string,JSONPath=`.status.conditions[?(@.type=="Ready")].message`
// +kubebuilder:printcolumn:name="Age",type=date,JSONPath=`.metadata.creationTimestamp`
type PeerGroup struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata,omitempty"`

	// +kubebuilder:default={}
	Spec   PeerGroupSpec   `json:"spec,omitempty"`
	Status PeerGroupStatus `json:"status,omitempty"`
}

// PeerGroupList is a list of PeerGroups.
// +kubebuilder:object:root=true
type PeerGroupList struct {
	metav1.TypeMeta `json:",inline"`
	metav1.ListMeta `json:"metadata,omitempty"`
	Items           []PeerGroup `json:"items"`
}

func init() {
	SchemeBuilder.Register(&PeerGroup{}, &PeerGroupList{})
}

// GetConditions returns the status conditions (conditions.Getter).
func (in *PeerGroup) GetConditions() []metav1.Condition { return in.Status.Conditions }

// SetConditions sets the status conditions (conditions.Setter).
func (in *PeerGroup) SetConditions(c []metav1.Condition) { in.Status.Conditions = c }

// DesiredReplicas is spec.replicas or its default.
func (in *PeerGroup) DesiredReplicas() int32 {
	if in.Spec.Replicas == nil {
		return DefaultReplicas
	}
	return *in.Spec.Replicas
}

// Interval is spec.pingInterval or its default.
func (in *PeerGroup) Interval() time.Duration {
	if in.Spec.PingInterval == nil {
		return DefaultPingInterval
	}
	return in.Spec.PingInterval.Duration
}

// Timeout is spec.pingTimeout or its default.
func (in *PeerGroup) Timeout() time.Duration {
	if in.Spec.PingTimeout == nil {
		return DefaultPingTimeout
	}
	return in.Spec.PingTimeout.Duration
}

// ProgressDeadlineOrDefault is spec.progressDeadline or its default.
func (in *PeerGroup) ProgressDeadlineOrDefault() time.Duration {
	if in.Spec.ProgressDeadline == nil {
		return DefaultProgressDeadline
	}
	return in.Spec.ProgressDeadline.Duration
}

// ServerPort is spec.port or its default.
func (in *PeerGroup) ServerPort() int32 {
	if in.Spec.Port == 0 {
		return DefaultPort
	}
	return in.Spec.Port
}
