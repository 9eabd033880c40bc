package quietstop

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"go.uber.org/zap/zapcore"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

// The Lease released by a stopping leader is an Info line; every other
// error, the same text in another message included, stays an ERROR.
func TestOnlyTheReleasedLeaseIsQuiet(t *testing.T) {
	for _, tc := range []struct {
		name, msg string
		err       error
		level     string
	}{
		{"released while stopping", "error received after stop sequence was engaged", errors.New("leader election lost"), `"level":"info"`},
		{"another error after stop", "error received after stop sequence was engaged", errors.New("failed to list pods"), `"level":"error"`},
		{"lost while running", "problem running manager", errors.New("leader election lost"), `"level":"error"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out bytes.Buffer
			log := Wrap(zap.New(zap.WriteTo(&out), zap.Level(zapcore.InfoLevel))).WithName("manager").WithValues("k", "v")
			log.Error(tc.err, tc.msg)
			if !strings.Contains(out.String(), tc.level) {
				t.Errorf("logged %s, want %s", out.String(), tc.level)
			}
		})
	}
}
