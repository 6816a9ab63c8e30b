package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// selfSigned writes a certificate for 127.0.0.1 and its key into dir.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "rnnrun test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
	cert, _ := x509.ParseCertificate(der)
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// With a certificate and key, rnnrun serve speaks HTTPS (and only HTTPS),
// and its bearer token guards the API.
func TestServeTLSAndToken(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	cfg := filepath.Join(dir, "rnnrun.yaml")
	os.WriteFile(cfg, []byte("server:\n  tls-cert-file: "+certFile+"\n  tls-key-file: "+keyFile+
		"\n  auth-tokens: [tok]\nmodels:\n  - name: mnist\n    path: "+serveModel(t, "mnist.onnx")+"\n"), 0o600)
	s := startServe(t, nil, "--config", cfg, "--playground=false")
	if !strings.HasPrefix(s.base, "https://127.0.0.1:") {
		t.Fatalf("serving on %s, want https", s.base)
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	get := func(path, token string) int {
		req, _ := http.NewRequest("GET", s.base+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.TLS == nil {
			t.Fatalf("GET %s: not over TLS", path)
		}
		return resp.StatusCode
	}
	if code := get("/healthz", ""); code != 200 {
		t.Errorf("/healthz: %d", code)
	}
	if code := get("/api/v1/models", ""); code != 401 {
		t.Errorf("/api/v1/models without a token: %d, want 401", code)
	}
	if code := get("/api/v1/models", "tok"); code != 200 {
		t.Errorf("/api/v1/models with the token: %d, want 200", code)
	}
	resp, err := http.Get("http://" + strings.TrimPrefix(s.base, "https://") + "/healthz")
	if err == nil && resp.StatusCode == 200 {
		t.Error("plain HTTP answered 200 on the TLS port")
	}
	if err == nil {
		resp.Body.Close()
	}
}
