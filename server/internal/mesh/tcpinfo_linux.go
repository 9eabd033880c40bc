package mesh

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

// tcpCounts reads the kernel's counters of a TCP connection: data segments
// sent (retransmissions included) and segments retransmitted. Retransmits
// are the loss TCP hides: a ping whose request was dropped still succeeds,
// only later.
func tcpCounts(c net.Conn) (segments, retransmits uint32, ok bool) {
	sc, isSyscall := c.(syscall.Conn)
	if !isSyscall {
		return 0, 0, false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return 0, 0, false
	}
	var info *unix.TCPInfo
	var infoErr error
	if err := raw.Control(func(fd uintptr) { info, infoErr = unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO) }); err != nil || infoErr != nil {
		return 0, 0, false
	}
	return info.Data_segs_out, info.Total_retrans, true
}
