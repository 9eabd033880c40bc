// Package readme finds the README's tested examples, so the commands the
// README shows and the commands the tests run are the same text. A tested
// block is the fenced block right after a line `<!-- readme-test: NAME … -->`.
package readme

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
)

// Root is the checkout's root folder.
var Root = func() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}()

var marker = regexp.MustCompile(`^<!-- readme-test: ([a-z0-9-]+)\b.*-->$`)

// Blocks returns the README's tested blocks by name: the lines between the
// fences, without them.
func Blocks() (map[string]string, error) {
	b, err := os.ReadFile(filepath.Join(Root, "README.md"))
	if err != nil {
		return nil, err
	}
	lines := strings.Split(string(b), "\n")
	blocks := map[string]string{}
	for i := 0; i < len(lines); i++ {
		m := marker.FindStringSubmatch(lines[i])
		if m == nil {
			continue
		}
		name := m[1]
		if i+1 >= len(lines) || !strings.HasPrefix(lines[i+1], "```") {
			return nil, fmt.Errorf("README.md:%d: readme-test %q is not followed by a fenced block", i+1, name)
		}
		end := i + 2
		for end < len(lines) && !strings.HasPrefix(lines[end], "```") {
			end++
		}
		if end == len(lines) {
			return nil, fmt.Errorf("README.md:%d: readme-test %q: the block is never closed", i+1, name)
		}
		if _, dup := blocks[name]; dup {
			return nil, fmt.Errorf("README.md:%d: readme-test %q appears twice", i+1, name)
		}
		blocks[name] = strings.Join(lines[i+2:end], "\n") + "\n"
		i = end
	}
	return blocks, nil
}

// Block is one named block, or an error saying the README lost it.
func Block(name string) (string, error) {
	blocks, err := Blocks()
	if err != nil {
		return "", err
	}
	block, ok := blocks[name]
	if !ok {
		return "", fmt.Errorf("README.md has no block marked <!-- readme-test: %s -->", name)
	}
	return block, nil
}

// Transcript is a console block's commands and the output each should print.
type Transcript struct {
	Command, Output string
}

// Transcripts splits a console block into `$ command` lines and the lines
// that follow each.
func Transcripts(block string) []Transcript {
	var ts []Transcript
	for line := range strings.SplitSeq(strings.TrimSuffix(block, "\n"), "\n") {
		if cmd, ok := strings.CutPrefix(line, "$ "); ok {
			ts = append(ts, Transcript{Command: cmd})
		} else if len(ts) > 0 {
			ts[len(ts)-1].Output += line + "\n"
		}
	}
	return ts
}
