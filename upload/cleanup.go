package upload

import (
	"cmp"
	"context"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// ListAPI is the part of *s3.Client that finding and aborting incomplete uploads needs.
type ListAPI interface {
	ListMultipartUploads(context.Context, *s3.ListMultipartUploadsInput, ...func(*s3.Options)) (*s3.ListMultipartUploadsOutput, error)
	ListParts(context.Context, *s3.ListPartsInput, ...func(*s3.Options)) (*s3.ListPartsOutput, error)
	AbortMultipartUpload(context.Context, *s3.AbortMultipartUploadInput, ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error)
}

// Incomplete is a multipart upload that was started and neither completed nor aborted: its parts
// are stored, and billed, until it is aborted.
type Incomplete struct {
	Bucket    string    `json:"bucket"`
	Key       string    `json:"key"`
	UploadID  string    `json:"upload_id"`
	Initiated time.Time `json:"initiated"`
	Parts     int       `json:"parts"`
	Bytes     int64     `json:"bytes"`
}

// ListIncomplete lists the incomplete multipart uploads of bucket whose keys start with prefix.
// It asks twice and joins the answers: once for the prefix (some stores, after a restart, list an
// upload only for its exact key or prefix) and once for the whole bucket, filtered here (some
// stores list uploads only without a prefix).
func ListIncomplete(ctx context.Context, c ListAPI, bucket, prefix string) ([]Incomplete, error) {
	var out []Incomplete
	seen := map[string]bool{}
	for _, p := range []*string{&prefix, nil} {
		in := &s3.ListMultipartUploadsInput{Bucket: &bucket, Prefix: p}
		for {
			page, err := c.ListMultipartUploads(ctx, in)
			if err != nil {
				return nil, &Error{Op: "list multipart uploads", Bucket: bucket, Key: prefix, Err: err}
			}
			for _, u := range page.Uploads {
				key, id := aws.ToString(u.Key), aws.ToString(u.UploadId)
				if !strings.HasPrefix(key, prefix) || seen[id] {
					continue
				}
				seen[id] = true
				inc := Incomplete{Bucket: bucket, Key: key, UploadID: id, Initiated: aws.ToTime(u.Initiated)}
				if err := countParts(ctx, c, &inc); err != nil {
					return nil, err
				}
				out = append(out, inc)
			}
			if !aws.ToBool(page.IsTruncated) {
				break
			}
			in.KeyMarker, in.UploadIdMarker = page.NextKeyMarker, page.NextUploadIdMarker
		}
	}
	return out, nil
}

func countParts(ctx context.Context, c ListAPI, inc *Incomplete) error {
	in := &s3.ListPartsInput{Bucket: &inc.Bucket, Key: &inc.Key, UploadId: &inc.UploadID}
	for {
		page, err := c.ListParts(ctx, in)
		if err != nil {
			if isNoSuchUpload(err) { // completed or aborted meanwhile
				return nil
			}
			return &Error{Op: "list parts of upload " + inc.UploadID, Bucket: inc.Bucket, Key: inc.Key, Err: err}
		}
		for _, p := range page.Parts {
			inc.Parts++
			inc.Bytes += aws.ToInt64(p.Size)
		}
		if !aws.ToBool(page.IsTruncated) {
			return nil
		}
		in.PartNumberMarker = page.NextPartNumberMarker
	}
}

// Abort aborts one incomplete upload. An upload that is already gone is not an error.
func Abort(ctx context.Context, c ListAPI, inc Incomplete) error {
	_, err := c.AbortMultipartUpload(ctx, &s3.AbortMultipartUploadInput{Bucket: &inc.Bucket, Key: &inc.Key, UploadId: &inc.UploadID})
	if err != nil && !isNoSuchUpload(err) {
		return &Error{Op: "abort multipart upload " + inc.UploadID, Bucket: inc.Bucket, Key: inc.Key, Err: err}
	}
	return nil
}

// Store is what addresses the store a client talks to. The errors that leave something to clean
// up carry it, so that whoever words a clean-up command for a person can make it reach this store
// from a shell whose environment points elsewhere.
type Store struct {
	Endpoint, Region, Profile, CABundle string
	PathStyle                           bool // asked for, where the endpoint would not get it by itself
}

// StoreOf is the store of client, made from cfg: its endpoint and region as the client resolved
// them (flags, environment, profile), and the profile and CA bundle it was given (else
// AWS_PROFILE and AWS_CA_BUNDLE). It makes no network call.
func StoreOf(client *s3.Client, cfg ClientConfig) Store {
	o := client.Options()
	s := Store{
		Endpoint: aws.ToString(o.BaseEndpoint),
		Region:   o.Region,
		Profile:  cmp.Or(cfg.Profile, os.Getenv("AWS_PROFILE")),
		CABundle: cmp.Or(cfg.CABundle, os.Getenv("AWS_CA_BUNDLE")),
	}
	s.PathStyle = o.UsePathStyle && !AutoPathStyle(s.Endpoint)
	if u, err := url.Parse(s.Endpoint); err == nil && u.User != nil { // never print a secret
		u.User = nil
		s.Endpoint = u.String()
	}
	return s
}
