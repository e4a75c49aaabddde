package upload_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"testing"

	"github.com/pg2s3/pg2s3/internal/testenv"
	"github.com/pg2s3/pg2s3/upload"
)

// Against the real store, NoClobber's conditional writes refuse an existing key atomically, on
// both paths (the If-None-Match of PutObject and of CompleteMultipartUpload), leaving the object
// as it was and no upload open. There is no HEAD before these writes: the store itself decides.
func TestNoClobberConditionalWrites(t *testing.T) {
	bucket, client := testenv.Stack(t)
	for name, size := range map[string]int{"PutObject": 1000, "CompleteMultipartUpload": 12 << 20} {
		t.Run(name, func(t *testing.T) {
			key := testenv.Key(t)
			testenv.Remove(t, client, bucket, key)
			u := upload.New(client, upload.URL{Bucket: bucket, Key: key}, upload.Options{PartSize: upload.MinPartSize, NoClobber: true})
			var logs bytes.Buffer
			u.Logger = slog.New(slog.NewTextHandler(&logs, nil))
			defer func() {
				if logs.Len() > 0 {
					t.Errorf("the store's own conditional write was not used: %s", logs.String())
				}
			}()
			first := bytes.Repeat([]byte("a"), size)
			if _, err := u.Upload(context.Background(), bytes.NewReader(first)); err != nil {
				t.Fatalf("first write to a free key: %v", err)
			}
			res, err := u.Upload(context.Background(), bytes.NewReader(bytes.Repeat([]byte("b"), size)))
			var exists *upload.ExistsError
			if !errors.As(err, &exists) {
				t.Fatalf("second write: %+v, %v; want an *ExistsError", res, err)
			}
			if size > upload.MinPartSize && !res.Multipart {
				t.Error("the second write was not a multipart upload: the test misses CompleteMultipartUpload")
			}
			if got := testenv.Get(t, client, bucket, key); !bytes.Equal(got, first) {
				t.Error("the object was replaced")
			}
			if ids := testenv.OpenUploads(t, client, bucket, key); len(ids) > 0 {
				t.Errorf("uploads left open: %v", ids)
			}
		})
	}
}
