package main

import (
	"crypto/tls"
	"fmt"
	"net"

	"golang.org/x/net/netutil"

	"github.com/rnnrun/rnnrun/runtime/server"
)

// guardListener caps the open connections at server.max-connections and,
// with server.tls-cert-file and tls-key-file, speaks TLS; it returns the
// URL scheme.
func guardListener(ln net.Listener, sc server.Config) (net.Listener, string, error) {
	if sc.MaxConnections > 0 {
		ln = netutil.LimitListener(ln, sc.MaxConnections)
	}
	if sc.TLSCertFile == "" {
		return ln, "http", nil
	}
	cert, err := tls.LoadX509KeyPair(sc.TLSCertFile, sc.TLSKeyFile)
	if err != nil {
		return nil, "", fmt.Errorf("server.tls-cert-file %s, tls-key-file %s: %w", sc.TLSCertFile, sc.TLSKeyFile, err)
	}
	return tls.NewListener(ln, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}), "https", nil
}
