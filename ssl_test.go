package main

import (
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/pg2s3/pg2s3/internal/testenv"
)

// sslmode works through pgconn as in libpq, against the stack's server with a self-signed certificate.
func TestSSLModes(t *testing.T) {
	testenv.Stack(t)
	ca := os.Getenv("PG2S3_TEST_PG_CA")
	if ca == "" {
		t.Skip("PG2S3_TEST_PG_CA is not set: run the tests with `make test`")
	}
	// A CA that did not sign the server's certificate.
	otherCA := filepath.Join(t.TempDir(), "other.crt")
	if out, err := exec.Command("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=other",
		"-keyout", filepath.Join(t.TempDir(), "other.key"), "-out", otherCA).CombinedOutput(); err != nil {
		t.Fatalf("openssl: %v\n%s", err, out)
	}
	base := "postgres://postgres:" + os.Getenv("PGPASSWORD") + "@%s:" + os.Getenv("PGPORT") + "/pg2s3?"
	dsn := func(host, params string) string { return strings.Replace(base, "%s", host, 1) + params }
	tests := []struct {
		name, dsn string
		stdout    string // "t": the session used TLS
		err       string
	}{
		{"disable", dsn("127.0.0.1", "sslmode=disable"), "f\n", ""},
		{"require", dsn("127.0.0.1", "sslmode=require"), "t\n", ""},
		{"verify-ca", dsn("127.0.0.1", "sslmode=verify-ca&sslrootcert="+ca), "t\n", ""},
		{"verify-full by IP", dsn("127.0.0.1", "sslmode=verify-full&sslrootcert="+ca), "t\n", ""},
		{"verify-full by name", dsn("localhost", "sslmode=verify-full&sslrootcert="+ca), "t\n", ""},
		{"verify-full, unknown CA", dsn("127.0.0.1", "sslmode=verify-full"), "", "certificate"},
		{"verify-ca, wrong CA", dsn("127.0.0.1", "sslmode=verify-ca&sslrootcert="+otherCA), "", "certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := pg2s3(t, []string{"PGSSLMODE="}, "export", "--dsn", tt.dsn, "--to", "-", "--quiet",
				"-c", "SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
			if tt.err == "" && (r.code != 0 || r.stdout != tt.stdout) {
				t.Errorf("exit %d, stdout %q, want %q\n%s", r.code, r.stdout, tt.stdout, r.stderr)
			}
			if tt.err != "" && (r.code != 1 || !strings.Contains(r.stderr, tt.err)) {
				t.Errorf("exit %d, want 1 and an error naming %q:\n%s", r.code, tt.err, r.stderr)
			}
		})
	}
}

// sslmode=require against a server that does not offer TLS: a clear error, not a plain-text fallback.
func TestSSLRequiredButUnavailable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			io.ReadFull(c, make([]byte, 8)) // SSLRequest
			c.Write([]byte("N"))            // no TLS here
			c.Close()
		}
	}()
	port := strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
	r := pg2s3(t, nil, "export", "--dsn", "postgres://u:pw@127.0.0.1:"+port+"/db?sslmode=require", "-c", "SELECT 1", "--to", "-")
	if r.code != 1 || !strings.Contains(r.stderr, "127.0.0.1:"+port) || !strings.Contains(r.stderr, "does not offer TLS") {
		t.Errorf("exit %d, stderr:\n%s", r.code, r.stderr)
	}
}
