package export

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/pg2s3/pg2s3/copyout"
	"github.com/pg2s3/pg2s3/upload"
)

// The tests run against the real PostgreSQL and MinIO that scripts/stack.sh starts; `make test`
// sets these variables. Without them the tests that need the servers skip, naming the variable.

func testDSN(t testing.TB) string {
	t.Helper()
	dsn := os.Getenv("PG2S3_TEST_DSN")
	if dsn == "" {
		t.Skip("PG2S3_TEST_DSN is not set: run the tests with `make test` (scripts/stack.sh starts PostgreSQL and MinIO)")
	}
	return dsn
}

func testBucket(t testing.TB) string {
	t.Helper()
	b := os.Getenv("PG2S3_TEST_BUCKET")
	if b == "" || os.Getenv("PG2S3_TEST_S3_ENDPOINT") == "" {
		t.Skip("PG2S3_TEST_BUCKET or PG2S3_TEST_S3_ENDPOINT is not set: run the tests with `make test`")
	}
	return b
}

func testS3(t testing.TB) *s3.Client {
	t.Helper()
	testBucket(t)
	c, err := upload.NewClient(context.Background(), upload.ClientConfig{Endpoint: os.Getenv("PG2S3_TEST_S3_ENDPOINT")})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var keySeq atomic.Int64

// testKey returns a key no other test uses.
func testKey(t testing.TB) string {
	return fmt.Sprintf("test/%s/%d-%d.csv", strings.ReplaceAll(t.Name(), "/", "_"), time.Now().UnixNano(), keySeq.Add(1))
}

// psql runs SQL with psql and returns its stdout: for COPY ... TO STDOUT, the ground truth.
func psql(t testing.TB, sql string) []byte {
	t.Helper()
	cmd := exec.Command("psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", testDSN(t), "-c", sql)
	cmd.Env = append(os.Environ(), "PGOPTIONS="+copyout.Session{}.PGOptions())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("psql -c %q: %v\n%s", sql, err, stderr.String())
	}
	return out
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func getObject(t testing.TB, c *s3.Client, bucket, key string) []byte {
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

// assertNothingLeft checks that no object and no multipart upload exist for key. (MinIO lists
// multipart uploads only without a prefix or for a whole key: key is whole here.)
func assertNothingLeft(t testing.TB, c *s3.Client, bucket, key string) {
	t.Helper()
	ctx := context.Background()
	_, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
	if err == nil {
		t.Errorf("s3://%s/%s exists after a failed export", bucket, key)
	} else if upload.Code(err) != "NotFound" && upload.Code(err) != "NoSuchKey" {
		t.Errorf("head s3://%s/%s: %v", bucket, key, err)
	}
	if ids := openUploads(t, c, bucket, key); len(ids) > 0 {
		t.Errorf("multipart uploads left open for s3://%s/%s: %v", bucket, key, ids)
	}
}

func openUploads(t testing.TB, c *s3.Client, bucket, key string) []string {
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

func removeObject(t testing.TB, c *s3.Client, bucket, key string) {
	t.Cleanup(func() {
		c.DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: &bucket, Key: &key})
	})
}

// baseConfig is an export of query to to with small parts, so that tests exercise multipart uploads.
func baseConfig(t testing.TB, query, to string) Config {
	return Config{
		DSN: testDSN(t), Query: query, To: to,
		S3:       upload.ClientConfig{Endpoint: os.Getenv("PG2S3_TEST_S3_ENDPOINT")},
		PartSize: upload.MinPartSize, Concurrency: 3, Checksum: upload.CRC32C,
	}
}

func mustErr(t testing.TB, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("export succeeded, want an error containing %q", want)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
	if errors.Is(err, context.DeadlineExceeded) && !strings.Contains(strings.Join(want, ""), "deadline") {
		t.Errorf("unexpected deadline error: %v", err)
	}
}
