package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/pg2s3/pg2s3/upload"
)

// store keeps the small objects a run writes beside its data: manifests, the journal and its
// chunk records, runs' states, a held snapshot's ID. They are read whole, written whole (with
// NoClobber never over one that is there: a conditional write), listed by prefix and deleted.
// Every reader and writer of those objects goes through one; s3Store is the implementation.
type store interface {
	// read returns at most limit bytes of the object at u; found is false when there is none.
	read(ctx context.Context, u upload.URL, limit int64) (b []byte, found bool, err error)
	// write stores body at u with o; exists reports an object that o.NoClobber kept.
	write(ctx context.Context, u upload.URL, body []byte, o upload.Options) (exists bool, err error)
	// list calls each with every key that starts with u's key until it returns false; op says what
	// the listing is for, in its error.
	list(ctx context.Context, u upload.URL, op string, each func(key string) bool) error
	remove(ctx context.Context, u upload.URL) error
}

// s3Store is a store in S3, through the run's client.
type s3Store struct{ client *s3.Client }

func (s s3Store) read(ctx context.Context, u upload.URL, limit int64) (b []byte, found bool, err error) {
	obj, err := s.client.GetObject(ctx, &s3.GetObjectInput{Bucket: &u.Bucket, Key: &u.Key})
	if upload.Code(err) == "NoSuchKey" {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, &upload.Error{Op: "read", Bucket: u.Bucket, Key: u.Key, Err: err}
	}
	defer obj.Body.Close()
	if b, err = io.ReadAll(io.LimitReader(obj.Body, limit)); err != nil {
		return nil, false, fmt.Errorf("reading %s: %w", u, err)
	}
	return b, true, nil
}

func (s s3Store) write(ctx context.Context, u upload.URL, body []byte, o upload.Options) (exists bool, err error) {
	_, err = upload.New(s.client, u, o).Upload(ctx, bytes.NewReader(body))
	var ee *upload.ExistsError
	if o.NoClobber && errors.As(err, &ee) {
		return true, nil
	}
	return false, err
}

func (s s3Store) list(ctx context.Context, u upload.URL, op string, each func(key string) bool) error {
	in := &s3.ListObjectsV2Input{Bucket: &u.Bucket, Prefix: &u.Key}
	for {
		out, err := s.client.ListObjectsV2(ctx, in)
		if err != nil {
			return &upload.Error{Op: op, Bucket: u.Bucket, Key: u.Key, Err: err}
		}
		for _, o := range out.Contents {
			if !each(aws.ToString(o.Key)) {
				return nil
			}
		}
		if !aws.ToBool(out.IsTruncated) {
			return nil
		}
		in.ContinuationToken = out.NextContinuationToken
	}
}

func (s s3Store) remove(ctx context.Context, u upload.URL) error {
	_, err := s.client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &u.Bucket, Key: &u.Key})
	return err
}
