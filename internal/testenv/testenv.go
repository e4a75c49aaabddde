// Package testenv is what every test package shares: the addresses of the PostgreSQL and MinIO that
// scripts/stack.sh starts (tests skip, naming the variable, when they are missing), psql as the
// ground truth, the hard values, and helpers that look at what is left in the bucket.
package testenv

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"log"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/klauspost/compress/zstd"

	"github.com/pg2s3/pg2s3/copyout"
	"github.com/pg2s3/pg2s3/upload"
)

const skipHint = "run the tests with `make test` (scripts/stack.sh starts PostgreSQL and MinIO)"

// DSN is the test database's connection string (PG2S3_TEST_DSN).
func DSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("PG2S3_TEST_DSN")
	if dsn == "" {
		t.Skip("PG2S3_TEST_DSN is not set: " + skipHint)
	}
	return dsn
}

// AsRole is the test DSN with another role and its password (the role is the test's to create).
func AsRole(t testing.TB, role, password string) string {
	t.Helper()
	u, err := url.Parse(DSN(t))
	if err != nil {
		t.Fatalf("PG2S3_TEST_DSN is not a URL: %v", err)
	}
	u.User = url.UserPassword(role, password)
	return u.String()
}

// Bucket is the test bucket (PG2S3_TEST_BUCKET, on PG2S3_TEST_S3_ENDPOINT).
func Bucket(t testing.TB) string {
	t.Helper()
	for _, v := range []string{"PG2S3_TEST_BUCKET", "PG2S3_TEST_S3_ENDPOINT"} {
		if os.Getenv(v) == "" {
			t.Skipf("%s is not set: %s", v, skipHint)
		}
	}
	return os.Getenv("PG2S3_TEST_BUCKET")
}

// Endpoint is the test S3 endpoint.
func Endpoint() string { return os.Getenv("PG2S3_TEST_S3_ENDPOINT") }

// S3 is a client of the test store.
func S3(t testing.TB) *s3.Client {
	t.Helper()
	Bucket(t)
	c, err := upload.NewClient(context.Background(), upload.ClientConfig{Endpoint: Endpoint()})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Stack is DSN, Bucket and S3 at once, for tests that need both servers.
func Stack(t testing.TB) (bucket string, client *s3.Client) {
	t.Helper()
	DSN(t)
	return Bucket(t), S3(t)
}

var seq atomic.Int64

// StoreProxy is a reverse proxy to the test store, for the tests' fault-injecting and TLS
// front ends; the errors of clients that hang up on purpose are not logged.
func StoreProxy(t testing.TB) *httputil.ReverseProxy {
	t.Helper()
	Bucket(t)
	target, err := url.Parse(Endpoint())
	if err != nil {
		t.Fatalf("PG2S3_TEST_S3_ENDPOINT: %v", err)
	}
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ErrorLog = log.New(io.Discard, "", 0)
	return rp
}

// Key returns an object key no other test uses.
func Key(t testing.TB) string {
	return fmt.Sprintf("test/%s/%d-%d.csv", strings.ReplaceAll(t.Name(), "/", "_"), time.Now().UnixNano(), seq.Add(1))
}

// Prefix returns a prefix (ending in /) no other test uses, emptied when the test ends.
func Prefix(t testing.TB, c *s3.Client, bucket string) string {
	p := fmt.Sprintf("test/%s/%d-%d/", strings.ReplaceAll(t.Name(), "/", "_"), time.Now().UnixNano(), seq.Add(1))
	t.Cleanup(func() {
		for _, k := range ListKeys(t, c, bucket, p) {
			c.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: &bucket, Key: aws.String(k)})
		}
	})
	return p
}

// Psql runs SQL with psql and the export session's settings and returns its stdout: for
// COPY ... TO STDOUT, the ground truth.
func Psql(t testing.TB, sql string, args ...string) []byte {
	t.Helper()
	return PsqlInput(t, sql, nil, args...)
}

// PsqlInput is Psql with stdin (COPY ... FROM STDIN's data).
func PsqlInput(t testing.TB, sql string, stdin []byte, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("psql", append(append([]string{"-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", DSN(t)}, args...), "-c", sql)...)
	cmd.Env = append(os.Environ(), "PGOPTIONS="+copyout.Session{}.PGOptions())
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("psql -c %q: %v\n%s", sql, err, stderr.String())
	}
	return out
}

// PsqlValue runs SQL with psql -At (unaligned, tuples only) and returns its output.
func PsqlValue(t testing.TB, sql string) string { t.Helper(); return string(Psql(t, sql, "-At")) }

// ServerVersionNum is the test server's server_version_num (130023, 150018, ...).
func ServerVersionNum(t testing.TB) int {
	t.Helper()
	v, err := strconv.Atoi(strings.TrimSpace(PsqlValue(t, "SHOW server_version_num")))
	if err != nil {
		t.Fatalf("server_version_num: %v", err)
	}
	return v
}

// HardValues is the query of testdata/hard_values.sql.
func HardValues(t testing.TB) string {
	_, file, _, _ := runtime.Caller(0)
	b, err := os.ReadFile(filepath.Join(filepath.Dir(file), "..", "..", "testdata", "hard_values.sql"))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// SHA256 is the hex SHA-256 of b.
func SHA256(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// Get downloads an object.
func Get(t testing.TB, c *s3.Client, bucket, key string) []byte {
	t.Helper()
	out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatalf("get s3://%s/%s: %v", bucket, key, err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// GetURL downloads s3://bucket/key and decompresses it by its extension (.gz, .zst).
func GetURL(t testing.TB, c *s3.Client, url string) []byte {
	t.Helper()
	u, err := upload.ParseObject(url)
	if err != nil {
		t.Fatal(err)
	}
	b := Get(t, c, u.Bucket, u.Key)
	switch {
	case strings.HasSuffix(u.Key, ".gz"):
		return Decompress(t, "gzip", b)
	case strings.HasSuffix(u.Key, ".zst"):
		return Decompress(t, "zstd", b)
	}
	return b
}

// Decompress undoes gzip or zstd.
func Decompress(t testing.TB, algo string, b []byte) []byte {
	t.Helper()
	var r io.Reader
	switch algo {
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("gzip: %v", err)
		}
		r = zr
	case "zstd":
		zr, err := zstd.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("zstd: %v", err)
		}
		defer zr.Close()
		r = zr
	default:
		return b
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decompressing %s: %v", algo, err)
	}
	return out
}

// Remove deletes the object when the test ends.
func Remove(t testing.TB, c *s3.Client, bucket, key string) {
	t.Cleanup(func() { c.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: &bucket, Key: &key}) })
}

// ListKeys lists the keys under prefix.
func ListKeys(t testing.TB, c *s3.Client, bucket, prefix string) []string {
	t.Helper()
	var keys []string
	in := &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &prefix}
	for {
		out, err := c.ListObjectsV2(context.Background(), in)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range out.Contents {
			keys = append(keys, aws.ToString(o.Key))
		}
		if !aws.ToBool(out.IsTruncated) {
			return keys
		}
		in.ContinuationToken = out.NextContinuationToken
	}
}

// OpenUploads lists the multipart uploads left open for exactly key. (MinIO lists multipart
// uploads only without a prefix or for a whole key.)
func OpenUploads(t testing.TB, c *s3.Client, bucket, key string) []string {
	t.Helper()
	out, err := c.ListMultipartUploads(context.Background(), &s3.ListMultipartUploadsInput{Bucket: &bucket, Prefix: &key})
	if err != nil {
		t.Fatalf("list multipart uploads: %v", err)
	}
	var ids []string
	for _, u := range out.Uploads {
		if aws.ToString(u.Key) == key {
			ids = append(ids, aws.ToString(u.UploadId))
		}
	}
	return ids
}

// AssertNothingLeft checks that no object and no multipart upload exist for key.
func AssertNothingLeft(t testing.TB, c *s3.Client, bucket, key string) {
	t.Helper()
	_, err := c.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
	if err == nil {
		t.Errorf("s3://%s/%s exists after a failed export", bucket, key)
	} else if upload.Code(err) != "NotFound" && upload.Code(err) != "NoSuchKey" {
		t.Errorf("head s3://%s/%s: %v", bucket, key, err)
	}
	if ids := OpenUploads(t, c, bucket, key); len(ids) > 0 {
		t.Errorf("multipart uploads left open for s3://%s/%s: %v", bucket, key, ids)
	}
}
