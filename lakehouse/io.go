package lakehouse

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/pg2s3/pg2s3/upload"
)

var errNotFound = errors.New("not found")

// s3IO reads and writes a table's metadata and manifests (small objects, read whole) with the
// run's client and object options.
type s3IO struct {
	client *s3.Client
	opts   upload.Options
}

func (s s3IO) get(ctx context.Context, name string) ([]byte, error) {
	u, err := upload.ParseObject(name)
	if err != nil {
		return nil, err
	}
	out, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &u.Bucket, Key: &u.Key})
	if c := upload.Code(err); c == "NoSuchKey" || c == "NotFound" {
		return nil, fmt.Errorf("%s: %w", name, errNotFound)
	}
	if err != nil {
		return nil, &upload.Error{Op: "read", Bucket: u.Bucket, Key: u.Key, Err: err}
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	return b, nil
}

func (s s3IO) exists(ctx context.Context, name string) (bool, error) {
	u, err := upload.ParseObject(name)
	if err != nil {
		return false, err
	}
	_, err = s.client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &u.Bucket, Key: &u.Key})
	if c := upload.Code(err); c == "NoSuchKey" || c == "NotFound" {
		return false, nil
	}
	if err != nil {
		return false, &upload.Error{Op: "head", Bucket: u.Bucket, Key: u.Key, Err: err}
	}
	return true, nil
}

// put writes name; putIfAbsent only if nothing is there (an *upload.ExistsError otherwise).
func (s s3IO) put(ctx context.Context, name string, b []byte) error {
	return s.write(ctx, name, b, false)
}

func (s s3IO) putIfAbsent(ctx context.Context, name string, b []byte) error {
	return s.write(ctx, name, b, true)
}

func (s s3IO) write(ctx context.Context, name string, b []byte, noClobber bool) error {
	u, err := upload.ParseObject(name)
	if err != nil {
		return err
	}
	o := s.opts
	o.NoClobber = noClobber
	_, err = upload.New(s.client, u, o).Upload(ctx, bytes.NewReader(b))
	return err
}

// remove deletes what a lost commit wrote, on a best-effort basis: nothing names it.
func (s s3IO) remove(ctx context.Context, names ...string) {
	for _, name := range names {
		if u, err := upload.ParseObject(name); err == nil {
			s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &u.Bucket, Key: &u.Key})
		}
	}
}
