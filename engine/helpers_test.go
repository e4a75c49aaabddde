package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/pg2s3/pg2s3/copyout"
	"github.com/pg2s3/pg2s3/internal/testenv"
	"github.com/pg2s3/pg2s3/upload"
)

// dest parses a destination; a test's bad destination is the test's bug.
func dest(t testing.TB, to string) Destination {
	t.Helper()
	d, err := ParseDestination(to)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// oneObject is what an export to one object did.
type oneObject struct {
	Object
	Destination string
	Ratio       float64 // csv bytes / stored bytes
}

// exportOne runs cfg, an export to one object, and returns that object.
func exportOne(ctx context.Context, cfg Config) (oneObject, error) {
	m, err := Run(ctx, cfg)
	if err != nil {
		return oneObject{}, err
	}
	if len(m.Objects) != 1 {
		return oneObject{}, fmt.Errorf("an export to one object wrote %d objects", len(m.Objects))
	}
	o := m.Objects[0]
	s := oneObject{Object: o, Destination: o.URL}
	if o.Bytes > 0 {
		s.Ratio = float64(o.CSVBytes) / float64(o.Bytes)
	}
	return s, nil
}

// baseConfig is an export of query to to with small parts, so that tests exercise multipart uploads.
func baseConfig(t testing.TB, query, to string) Config {
	return Config{
		Conn: copyout.Conn{DSN: testenv.DSN(t)}, Query: query, To: dest(t, to),
		S3:     upload.ClientConfig{Endpoint: testenv.Endpoint()},
		Upload: upload.Options{PartSize: upload.MinPartSize, Concurrency: 3, Checksum: upload.CRC32C},
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

// chunked says whether the server can export a table in ctid chunks (a TID Range Scan, from
// PostgreSQL 14); before, every table is one chunk, by design.
func chunked(t testing.TB) bool {
	t.Helper()
	return testenv.ServerVersionNum(t) >= 140000
}
