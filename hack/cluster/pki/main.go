// Command pki writes the local cluster's certificates and kubeconfigs with
// Go's crypto (ECDSA P-256): a CA, the API server's serving certificate, a
// client certificate per control-plane component, and the service-account
// key; with -worker, a node's kubelet serving and client certificates. It
// rewrites everything when the API server's address changes, and nothing
// otherwise.
//
//	go run ./hack/cluster/pki -dir STATE/pki -node-ip 192.0.2.2 -node-name HOSTNAME
//	go run ./hack/cluster/pki -dir STATE/pki -worker -node-name peering-node-1 -node-ip 172.31.0.11 -server https://192.0.2.2:6443
package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

func main() {
	dir := flag.String("dir", "", "where to write")
	nodeIP := flag.String("node-ip", "", "the API server's address (with -worker: the node's)")
	nodeName := flag.String("node-name", "", "the machine's name, in the API server's certificate (with -worker: the node's name)")
	worker := flag.Bool("worker", false, "only a node's kubelet certificates, in -dir/nodes/<node-name>, from the CA in -dir")
	server := flag.String("server", "", "with -worker: the API server's URL")
	flag.Parse()
	if *dir == "" || net.ParseIP(*nodeIP) == nil || *nodeName == "" {
		fmt.Fprintln(os.Stderr, "pki: -dir, -node-ip and -node-name are required")
		os.Exit(2)
	}
	if *worker {
		workerCerts(*dir, *nodeName, net.ParseIP(*nodeIP), *server)
		return
	}
	stamp := filepath.Join(*dir, "node")
	if b, err := os.ReadFile(stamp); err == nil && string(b) == *nodeIP+" "+*nodeName {
		return // already written for this node
	}
	check(os.MkdirAll(*dir, 0o700))
	ca, caKey := newCA()
	write(*dir, "ca", ca, caKey)
	ip := net.ParseIP(*nodeIP)
	apiURL := fmt.Sprintf("https://%s:6443", *nodeIP)

	apiserver := []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "localhost", *nodeName}
	for _, c := range []struct {
		file, cn string
		orgs     []string
		dns      []string
		ips      []net.IP
		serving  bool
	}{
		{"apiserver", "kube-apiserver", nil, apiserver, []net.IP{ip, net.ParseIP("10.96.0.1"), net.ParseIP("127.0.0.1")}, true},
		{"apiserver-kubelet-client", "kube-apiserver-kubelet-client", []string{"system:masters"}, nil, nil, false},
	} {
		cert, key := issue(ca, caKey, c.cn, c.orgs, c.dns, c.ips, c.serving)
		write(*dir, c.file, cert, key)
	}

	saKey := newKey()
	der, err := x509.MarshalPKIXPublicKey(&saKey.PublicKey)
	check(err)
	writePEM(filepath.Join(*dir, "sa.pub"), "PUBLIC KEY", der)
	writeKey(filepath.Join(*dir, "sa.key"), saKey)

	for _, c := range []struct{ file, cn, org string }{
		{"admin", "admin", "system:masters"},
		{"controller-manager", "system:kube-controller-manager", ""},
		{"scheduler", "system:kube-scheduler", ""},
		{"kube-proxy", "system:kube-proxy", ""},
	} {
		var orgs []string
		if c.org != "" {
			orgs = []string{c.org}
		}
		cert, key := issue(ca, caKey, c.cn, orgs, nil, nil, false)
		write(*dir, c.file, cert, key)
		kubeconfig(filepath.Join(*dir, c.file+".kubeconfig"), apiURL, *dir, c.file)
	}
	check(os.WriteFile(stamp, []byte(*nodeIP+" "+*nodeName), 0o600))
}

// workerCerts writes a worker node's kubelet serving certificate and its
// client kubeconfig (system:node:<name>, which NodeRestriction confines to
// its own node), signed by the cluster's CA.
func workerCerts(dir, name string, ip net.IP, server string) {
	out := filepath.Join(dir, "nodes", name)
	stamp := filepath.Join(out, "node")
	if b, err := os.ReadFile(stamp); err == nil && string(b) == ip.String() {
		return
	}
	check(os.MkdirAll(out, 0o700))
	ca, caKey := readCA(dir)
	cert, key := issue(ca, caKey, "system:node:"+name, []string{"system:nodes"}, []string{name}, []net.IP{ip}, true)
	write(out, "kubelet", cert, key)
	cert, key = issue(ca, caKey, "system:node:"+name, []string{"system:nodes"}, nil, nil, false)
	write(out, "kubelet-client", cert, key)
	kubeconfigWithCA(filepath.Join(out, "kubelet-client.kubeconfig"), server, filepath.Join(dir, "ca.crt"), out, "kubelet-client")
	check(os.WriteFile(stamp, []byte(ip.String()), 0o600))
}

func readCA(dir string) (*x509.Certificate, *ecdsa.PrivateKey) {
	certPEM, err := os.ReadFile(filepath.Join(dir, "ca.crt"))
	check(err)
	keyPEM, err := os.ReadFile(filepath.Join(dir, "ca.key"))
	check(err)
	c, _ := pem.Decode(certPEM)
	k, _ := pem.Decode(keyPEM)
	if c == nil || k == nil {
		check(fmt.Errorf("%s holds no CA certificate and key", dir))
	}
	cert, err := x509.ParseCertificate(c.Bytes)
	check(err)
	key, err := x509.ParseECPrivateKey(k.Bytes)
	check(err)
	return cert, key
}

func newKey() *ecdsa.PrivateKey {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	check(err)
	return k
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	check(err)
	return n
}

func newCA() (*x509.Certificate, *ecdsa.PrivateKey) {
	key := newKey()
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: "simulated-peering-local-ca"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(5, 0, 0),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	check(err)
	cert, err := x509.ParseCertificate(der)
	check(err)
	return cert, key
}

func issue(ca *x509.Certificate, caKey *ecdsa.PrivateKey, cn string, orgs, dns []string, ips []net.IP, serving bool) (*x509.Certificate, *ecdsa.PrivateKey) {
	key := newKey()
	usage := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	if serving {
		usage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(), Subject: pkix.Name{CommonName: cn, Organization: orgs},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(5, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: usage, DNSNames: dns, IPAddresses: ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	check(err)
	cert, err := x509.ParseCertificate(der)
	check(err)
	return cert, key
}

func write(dir, name string, cert *x509.Certificate, key *ecdsa.PrivateKey) {
	writePEM(filepath.Join(dir, name+".crt"), "CERTIFICATE", cert.Raw)
	writeKey(filepath.Join(dir, name+".key"), key)
}

func writeKey(path string, key *ecdsa.PrivateKey) {
	der, err := x509.MarshalECPrivateKey(key)
	check(err)
	writePEM(path, "EC PRIVATE KEY", der)
}

func writePEM(path, kind string, der []byte) {
	check(os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: kind, Bytes: der}), 0o600))
}

func kubeconfig(path, server, dir, name string) {
	kubeconfigWithCA(path, server, filepath.Join(dir, "ca.crt"), dir, name)
}

func kubeconfigWithCA(path, server, caFile, dir, name string) {
	check(os.WriteFile(path, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: %s
    certificate-authority: %s
users:
- name: %s
  user:
    client-certificate: %s
    client-key: %s
contexts:
- name: local
  context: {cluster: local, user: %s}
current-context: local
`, server, caFile, name, filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key"), name)), 0o600))
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "pki:", err)
		os.Exit(1)
	}
}
