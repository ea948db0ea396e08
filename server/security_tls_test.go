package server

// The security test of serving over TLS (helpers in security_helpers_test.go).

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	crand "crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/tandemhq/tandem/auth"
	"github.com/tandemhq/tandem/protocol"
	"github.com/tandemhq/tandem/server/internal/wstest"
)

// selfSigned writes a self-signed certificate for 127.0.0.1 and its key, PEM-encoded, into dir
// and returns their paths and a pool that trusts the certificate.
func selfSigned(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), crand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "tandem test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(crand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return certFile, keyFile, pool
}

// TestTLS serves HTTPS and WSS with a certificate made here, and checks that a bad certificate
// configuration fails at start, naming the field.
func TestTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, pool := selfSigned(t, dir)
	cfg := secConfig(t, nil)
	cfg.TLSCertFile, cfg.TLSKeyFile = certFile, keyFile
	ts := startServer(t, cfg, nil)
	addr := strings.TrimPrefix(ts.base, "http://")
	tlsCfg := &tls.Config{RootCAs: pool}

	client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}, Timeout: 5 * time.Second}
	resp, err := client.Get("https://" + addr + "/healthz")
	if err != nil {
		t.Fatalf("GET https://.../healthz: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || resp.TLS == nil {
		t.Fatalf("GET https://.../healthz = %d (TLS %v); want 200 over TLS", resp.StatusCode, resp.TLS != nil)
	}

	// An editor over wss.
	tok := mint(t, "alice", "tls", auth.RoleWrite, time.Hour)
	d := websocket.Dialer{TLSClientConfig: tlsCfg, HandshakeTimeout: 5 * time.Second}
	ws, _, err := d.Dial("wss://"+addr+"/v1/docs/tls/ws", bearer(tok))
	if err != nil {
		t.Fatalf("dial wss: %v", err)
	}
	defer ws.Close()
	c := &wstest.Client{WS: ws}
	if err := c.Hello(801, nil, 0); err != nil {
		t.Fatal(err)
	}
	if m, err := c.Read(0); err != nil {
		t.Fatal(err)
	} else if _, ok := m.(*protocol.Sync); !ok {
		t.Fatalf("wss: got %T; want sync", m)
	}
	if err := c.Send(&protocol.Update{Data: craftUpdate(801, 0, "over tls")}); err != nil {
		t.Fatal(err)
	}
	if m, err := c.Read(0); err != nil {
		t.Fatal(err)
	} else if a, ok := m.(*protocol.Ack); !ok || a.Seq != 1 {
		t.Fatalf("wss: got %#v; want ack 1", m)
	}

	// Plain HTTP to the TLS port gets no document; neither does a client that does not trust the
	// certificate.
	if status, b := httpDo(t, "GET", "http://"+addr+"/v1/docs/tls", tok, nil); status != http.StatusBadRequest || strings.Contains(string(b), "over tls") {
		t.Errorf("plain HTTP to the TLS port = %d %q; want 400 and no content", status, b)
	}
	if _, err := http.Get("https://" + addr + "/healthz"); err == nil {
		t.Errorf("a client without the certificate connected; want a TLS error")
	}

	// Bad configurations fail at New with the field named.
	for _, tt := range []struct {
		name       string
		cert, key  string
		wantInText string
	}{
		{"missing files", filepath.Join(dir, "none.pem"), filepath.Join(dir, "none.key"), "TLSCertFile"},
		{"cert without key", certFile, "", "TLSCertFile"},
		{"key as cert", keyFile, keyFile, "TLSCertFile"},
	} {
		bad := secConfig(t, nil)
		bad.TLSCertFile, bad.TLSKeyFile = tt.cert, tt.key
		if _, err := New(bad); !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.wantInText) {
			t.Errorf("%s: New = %v; want ErrInvalidConfig naming %s", tt.name, err, tt.wantInText)
		}
	}
}
