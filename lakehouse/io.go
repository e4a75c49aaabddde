package lakehouse

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/pg2s3/pg2s3/upload"
)

var errNotFound = errors.New("not found")

// maxMetadata bounds what a table's metadata file or manifest may take in memory when read.
const maxMetadata = 256 << 20

// s3IO reads and writes a table's metadata and manifests (small objects, read whole, named by
// their URLs as the metadata holds them) with the run's client and object options.
type s3IO struct {
	client *s3.Client
	opts   upload.Options
}

func (s s3IO) objects() upload.SmallObjects { return upload.SmallObjects{Client: s.client} }

func (s s3IO) get(ctx context.Context, name string) ([]byte, error) {
	u, err := upload.ParseObject(name)
	if err != nil {
		return nil, err
	}
	b, found, err := s.objects().Read(ctx, u, maxMetadata)
	if err == nil && !found {
		err = fmt.Errorf("%s: %w", name, errNotFound)
	}
	return b, err
}

func (s s3IO) exists(ctx context.Context, name string) (bool, error) {
	u, err := upload.ParseObject(name)
	if err != nil {
		return false, err
	}
	return s.objects().Exists(ctx, u)
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
	exists, err := s.objects().Write(ctx, u, b, o)
	if exists {
		return &upload.ExistsError{Bucket: u.Bucket, Key: u.Key}
	}
	return err
}

// remove deletes what a lost commit wrote, on a best-effort basis: nothing names it.
func (s s3IO) remove(ctx context.Context, names ...string) {
	for _, name := range names {
		if u, err := upload.ParseObject(name); err == nil {
			s.objects().Remove(ctx, u)
		}
	}
}
