// Package quietstop keeps a normal shutdown from logging an ERROR.
//
// With LeaderElectionReleaseOnCancel, a stopping leader gives its Lease
// back on purpose, and client-go then calls OnStoppedLeading, which
// controller-runtime (v0.25) reports as the error "leader election lost";
// once its stop sequence is engaged it logs that as "error received after
// stop sequence was engaged". Nobody must act on it: the replica released
// the Lease because it is stopping. A Lease lost while running is not
// touched: it ends the manager with an error before any stop sequence.
package quietstop

import (
	"github.com/go-logr/logr"
)

// Wrap returns a logger that logs controller-runtime's report of a Lease
// released while stopping at Info; everything else passes unchanged.
func Wrap(l logr.Logger) logr.Logger {
	return logr.New(sink{l.GetSink()})
}

// The texts controller-runtime uses (pkg/manager/internal.go).
const (
	afterStop = "error received after stop sequence was engaged"
	lost      = "leader election lost"
)

type sink struct{ logr.LogSink }

func (s sink) Error(err error, msg string, keysAndValues ...any) {
	if msg == afterStop && err != nil && err.Error() == lost {
		s.LogSink.Info(0, "leader Lease released while stopping", keysAndValues...)
		return
	}
	s.LogSink.Error(err, msg, keysAndValues...)
}

func (s sink) WithValues(keysAndValues ...any) logr.LogSink {
	return sink{s.LogSink.WithValues(keysAndValues...)}
}

func (s sink) WithName(name string) logr.LogSink { return sink{s.LogSink.WithName(name)} }

// WithCallDepth keeps the caller's file and line right when the inner sink
// reports them.
func (s sink) WithCallDepth(depth int) logr.LogSink {
	if d, ok := s.LogSink.(logr.CallDepthLogSink); ok {
		return sink{d.WithCallDepth(depth)}
	}
	return s
}
