// Command image wraps one static binary into an image the way the
// Dockerfiles do (distroless static, user 65532): one layer holding the
// binary, linux/amd64, an entrypoint and exposed ports. It writes a
// docker-archive tarball that `ctr -n k8s.io images import` loads.
//
//	go run . -binary ../../bin/server -tag simulated-peering/server:dev -port 8080 -out server.tar
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func main() {
	binary := flag.String("binary", "", "static binary to put at /<basename>")
	tag := flag.String("tag", "", "image reference, e.g. simulated-peering/server:dev")
	ports := flag.String("port", "", "comma-separated TCP ports to expose")
	user := flag.String("user", "65532:65532", "user:group the image runs as")
	out := flag.String("out", "", "docker-archive to write")
	flag.Parse()
	if *binary == "" || *tag == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "image: -binary, -tag and -out are required")
		os.Exit(2)
	}
	ref, err := name.NewTag(*tag)
	check(err)
	bin, err := os.ReadFile(*binary)
	check(err)
	path := "/" + filepath.Base(*binary)

	var layerTar bytes.Buffer
	tw := tar.NewWriter(&layerTar)
	epoch := time.Unix(0, 0) // reproducible: same binary, same digest
	check(tw.WriteHeader(&tar.Header{Name: strings.TrimPrefix(path, "/"), Mode: 0o755, Size: int64(len(bin)), ModTime: epoch, Typeflag: tar.TypeReg}))
	_, err = tw.Write(bin)
	check(err)
	check(tw.Close())
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layerTar.Bytes())), nil })
	check(err)

	img, err := mutate.AppendLayers(empty.Image, layer)
	check(err)
	cfg, err := img.ConfigFile()
	check(err)
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", "amd64" // containerd rejects an image without them
	cfg.Created = v1.Time{Time: epoch}
	cfg.Config.User = *user
	cfg.Config.Entrypoint = []string{path}
	cfg.Config.Labels = map[string]string{"org.opencontainers.image.source": "https://github.com/simulated-peering/simulated-peering"}
	if *ports != "" {
		cfg.Config.ExposedPorts = map[string]struct{}{}
		for _, p := range strings.Split(*ports, ",") {
			cfg.Config.ExposedPorts[p+"/tcp"] = struct{}{}
		}
	}
	img, err = mutate.ConfigFile(img, cfg)
	check(err)
	check(tarball.WriteToFile(*out, ref, img))
	digest, _ := img.Digest()
	fmt.Printf("%s %s\n", ref, digest)
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}
