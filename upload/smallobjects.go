package upload

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// SmallObjects keeps the small objects pg2s3 writes beside its data: manifests, journals and their
// records, runs' states, a held snapshot's ID, a table format's metadata and manifests. They are
// read whole, written whole (with NoClobber never over one that is there: a conditional write),
// listed by prefix and deleted. Every reader and writer of those objects goes through one.
type SmallObjects struct{ Client *s3.Client }

// missing says whether err is a store's answer that the object is not there: NoSuchKey to a GET,
// NotFound to a HEAD (and to a GET, from some S3-compatible stores).
func missing(err error) bool {
	c := Code(err)
	return c == "NoSuchKey" || c == "NotFound"
}

// Read returns at most limit bytes of the object at u; found is false when there is none.
func (s SmallObjects) Read(ctx context.Context, u URL, limit int64) (b []byte, found bool, err error) {
	obj, err := s.Client.GetObject(ctx, &s3.GetObjectInput{Bucket: &u.Bucket, Key: &u.Key})
	if missing(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, &Error{Op: "read", Bucket: u.Bucket, Key: u.Key, Err: err}
	}
	defer obj.Body.Close()
	if b, err = io.ReadAll(io.LimitReader(obj.Body, limit)); err != nil {
		return nil, false, fmt.Errorf("reading %s: %w", u, err)
	}
	return b, true, nil
}

// Exists says whether there is an object at u.
func (s SmallObjects) Exists(ctx context.Context, u URL) (bool, error) {
	_, err := s.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &u.Bucket, Key: &u.Key})
	if missing(err) {
		return false, nil
	}
	if err != nil {
		return false, &Error{Op: "head", Bucket: u.Bucket, Key: u.Key, Err: err}
	}
	return true, nil
}

// Write stores body at u with o; exists reports an object that o.NoClobber kept.
func (s SmallObjects) Write(ctx context.Context, u URL, body []byte, o Options) (exists bool, err error) {
	_, err = New(s.Client, u, o).Upload(ctx, bytes.NewReader(body))
	var ee *ExistsError
	if o.NoClobber && errors.As(err, &ee) {
		return true, nil
	}
	return false, err
}

// List calls each with every key that starts with u's key until it returns false; op says what
// the listing is for, in its error.
func (s SmallObjects) List(ctx context.Context, u URL, op string, each func(key string) bool) error {
	in := &s3.ListObjectsV2Input{Bucket: &u.Bucket, Prefix: &u.Key}
	for {
		out, err := s.Client.ListObjectsV2(ctx, in)
		if err != nil {
			return &Error{Op: op, Bucket: u.Bucket, Key: u.Key, Err: err}
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

// Remove deletes the object at u.
func (s SmallObjects) Remove(ctx context.Context, u URL) error {
	_, err := s.Client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: &u.Bucket, Key: &u.Key})
	return err
}
