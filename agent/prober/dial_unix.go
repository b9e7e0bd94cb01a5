//go:build unix

package prober

import (
	"net"
	"syscall"
)

// lingerDialer closes probe connections with SO_LINGER 1s, as kubelet, so
// frequent probes do not leave sockets in TIME_WAIT behind.
func lingerDialer() *net.Dialer {
	return &net.Dialer{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = syscall.SetsockoptLinger(int(fd), syscall.SOL_SOCKET, syscall.SO_LINGER, &syscall.Linger{Onoff: 1, Linger: 1})
		})
		if err != nil {
			return err
		}
		return serr
	}}
}
