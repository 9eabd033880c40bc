// Command image wraps one static binary into an image the way the
// Dockerfiles do (distroless static, user 65532): one layer holding the
// binary, linux/amd64, an entrypoint and exposed ports. It writes a
// docker-archive tarball that `ctr -n k8s.io images import` loads.
//
//	go run . -binary ../../bin/server -tag simulated-peering/server:dev -port 8080 -out server.tar
//
// With -root instead, the layer holds a folder's whole tree (a program that
// is not one file, e.g. Prometheus with its web UI) and -entrypoint names the
// program in it; -workdir is the folder it starts in.
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"io/fs"
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
	root := flag.String("root", "", "folder whose tree is the image's files (instead of -binary)")
	entrypoint := flag.String("entrypoint", "", "the program to run; with -binary, where it goes (default /<basename of -binary>)")
	tag := flag.String("tag", "", "image reference, e.g. simulated-peering/server:dev")
	ports := flag.String("port", "", "comma-separated TCP ports to expose")
	user := flag.String("user", "65532:65532", "user:group the image runs as")
	workdir := flag.String("workdir", "", "the working folder the entrypoint starts in")
	out := flag.String("out", "", "docker-archive to write")
	flag.Parse()
	if (*binary == "") == (*root == "") || *tag == "" || *out == "" || (*root != "" && *entrypoint == "") {
		fmt.Fprintln(os.Stderr, "image: -tag, -out and either -binary or -root with -entrypoint are required")
		os.Exit(2)
	}
	ref, err := name.NewTag(*tag)
	check(err)
	var layerTar bytes.Buffer
	tw := tar.NewWriter(&layerTar)
	path := *entrypoint
	if *binary != "" {
		bin, err := os.ReadFile(*binary)
		check(err)
		if path == "" {
			path = "/" + filepath.Base(*binary)
		}
		check(tw.WriteHeader(&tar.Header{Name: strings.TrimPrefix(path, "/"), Mode: 0o755, Size: int64(len(bin)), ModTime: epoch, Typeflag: tar.TypeReg}))
		_, err = tw.Write(bin)
		check(err)
	} else {
		check(addTree(tw, *root))
	}
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
	cfg.Config.WorkingDir = *workdir
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

// epoch is every file's and the image's time: the same files give the same
// digest.
var epoch = time.Unix(0, 0)

// addTree writes the files, folders and symbolic links under root, in
// lexical order, as the image's paths.
func addTree(tw *tar.Writer, root string) error {
	root, err := filepath.EvalSymlinks(root) // bin/ links into the cache
	if err != nil {
		return err
	}
	return filepath.WalkDir(root, func(file string, d fs.DirEntry, err error) error {
		if err != nil || file == root {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		link := ""
		if d.Type()&fs.ModeSymlink != 0 {
			if link, err = os.Readlink(file); err != nil {
				return err
			}
		}
		hdr, err := tar.FileInfoHeader(info, link)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, file)
		hdr.Name, hdr.ModTime = filepath.ToSlash(rel), epoch
		hdr.AccessTime, hdr.ChangeTime = time.Time{}, time.Time{}
		hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = 0, 0, "", ""
		if d.IsDir() {
			hdr.Name += "/"
		}
		if err := tw.WriteHeader(hdr); err != nil || !info.Mode().IsRegular() {
			return err
		}
		f, err := os.Open(file)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(tw, f)
		return err
	})
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}
