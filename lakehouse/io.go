package lakehouse

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"

	icebergio "github.com/apache/iceberg-go/io"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/pg2s3/pg2s3/upload"
)

var errNotFound = errors.New("not found")

// s3IO is iceberg-go's file IO over the run's S3 client: it reads and writes a table's metadata
// and manifests (small objects, read whole) with the run's object options.
type s3IO struct {
	ctx    context.Context // iceberg-go's IO takes none
	client *s3.Client
	opts   upload.Options
}

var _ icebergio.WriteFileIO = s3IO{}

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

func (s s3IO) Open(name string) (icebergio.File, error) {
	b, err := s.get(s.ctx, name)
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: name, Err: err}
	}
	return &memFile{Reader: bytes.NewReader(b), name: name, size: int64(len(b))}, nil
}

func (s s3IO) Remove(name string) error {
	u, err := upload.ParseObject(name)
	if err != nil {
		return err
	}
	_, err = s.client.DeleteObject(s.ctx, &s3.DeleteObjectInput{Bucket: &u.Bucket, Key: &u.Key})
	return err
}

func (s s3IO) Create(name string) (icebergio.FileWriter, error) {
	return &memWriter{io: s, name: name}, nil
}

func (s s3IO) WriteFile(name string, p []byte) error { return s.put(s.ctx, name, p) }

// memFile is an object read whole.
type memFile struct {
	*bytes.Reader
	name string
	size int64
}

func (f *memFile) Close() error               { return nil }
func (f *memFile) Stat() (fs.FileInfo, error) { return f, nil }
func (f *memFile) Name() string               { return f.name }
func (f *memFile) Size() int64                { return f.size }
func (f *memFile) Mode() fs.FileMode          { return 0o444 }
func (f *memFile) ModTime() time.Time         { return time.Time{} }
func (f *memFile) IsDir() bool                { return false }
func (f *memFile) Sys() any                   { return nil }

// memWriter is an object written whole when it is closed.
type memWriter struct {
	bytes.Buffer
	io   s3IO
	name string
}

func (w *memWriter) Close() error { return w.io.put(w.io.ctx, w.name, w.Bytes()) }
