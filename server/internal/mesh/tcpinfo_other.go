//go:build !linux

package mesh

import "net"

// tcpCounts: TCP_INFO is read on Linux only; elsewhere loss is unmeasured.
func tcpCounts(net.Conn) (segments, retransmits uint32, ok bool) { return 0, 0, false }
