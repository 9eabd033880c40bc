// Command gitserver serves the bare Git repositories under -root over
// Git's smart HTTP protocol (git http-backend as CGI), push included, so
// Flux's source-controller can clone what the GitOps test pushes.
//
//	gitserver -root STATE/git -listen 127.0.0.1:9780   →  http://127.0.0.1:9780/<repo>.git
package main

import (
	"flag"
	"log"
	"net/http"
	"net/http/cgi"
	"os/exec"
	"path/filepath"
	"strings"
)

func main() {
	root := flag.String("root", "", "folder holding bare repositories")
	listen := flag.String("listen", "127.0.0.1:9780", "address to serve on")
	flag.Parse()
	if *root == "" {
		log.Fatal("gitserver: -root is required")
	}
	execPath, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		log.Fatalf("gitserver: git not found: %v", err)
	}
	backend := &cgi.Handler{
		Path: filepath.Join(strings.TrimSpace(string(execPath)), "git-http-backend"),
		// REMOTE_USER enables receive-pack (push) for these test repositories.
		Env: []string{"GIT_PROJECT_ROOT=" + *root, "GIT_HTTP_EXPORT_ALL=1", "REMOTE_USER=gitops-test"},
	}
	log.Printf("gitserver: serving %s on http://%s", *root, *listen)
	log.Fatal(http.ListenAndServe(*listen, backend))
}
