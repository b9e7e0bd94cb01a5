//go:build !unix

package prober

import "net"

func lingerDialer() *net.Dialer { return &net.Dialer{} }
