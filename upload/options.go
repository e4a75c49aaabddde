package upload

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"
	"unicode"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go/middleware"

	"github.com/pg2s3/pg2s3/setting"
)

// ObjectOptions are the object's settings, passed on PutObject or CreateMultipartUpload.
type ObjectOptions struct {
	ContentType     string            // default text/csv
	ContentEncoding string            // gzip, zstd: how the stored bytes are encoded
	SSE             string            // "", AES256, aws:kms or aws:kms:dsse
	SSEKMSKeyID     string            // with aws:kms
	StorageClass    string            // STANDARD, STANDARD_IA, GLACIER_IR, ... ("" leaves the bucket's default)
	Metadata        map[string]string // x-amz-meta-*
	Tags            map[string]string // object tags
}

// OptionError is an option S3 or the client would refuse; Name is the option (SSE, SSEKMSKeyID,
// StorageClass, Metadata, Tags, Endpoint, Profile, CABundle).
type OptionError = setting.Error

// Validate checks the options against what S3 accepts; its errors are *OptionError.
func (o ObjectOptions) Validate() error {
	switch o.SSE {
	case "", string(types.ServerSideEncryptionAes256), string(types.ServerSideEncryptionAwsKms), string(types.ServerSideEncryptionAwsKmsDsse):
	default:
		return &OptionError{Name: "SSE", Value: o.SSE, Reason: "want AES256, aws:kms or aws:kms:dsse"}
	}
	if o.SSEKMSKeyID != "" && !strings.HasPrefix(o.SSE, "aws:kms") {
		return &OptionError{Name: "SSEKMSKeyID", Value: o.SSEKMSKeyID, Reason: "needs SSE aws:kms or aws:kms:dsse"}
	}
	if o.StorageClass != "" && !slices.Contains(types.StorageClass("").Values(), types.StorageClass(o.StorageClass)) {
		var names []string
		for _, v := range types.StorageClass("").Values() {
			names = append(names, string(v))
		}
		return &OptionError{Name: "StorageClass", Value: o.StorageClass, Reason: "want one of " + strings.Join(names, ", ")}
	}
	for k, v := range o.Metadata {
		if k == "" || strings.IndexFunc(k, func(r rune) bool { return r > '~' || r <= ' ' || strings.ContainsRune("()<>@,;:\\\"/[]?={}", r) }) >= 0 {
			return &OptionError{Name: "Metadata", Value: k, Reason: "keys are non-empty ASCII letters, digits and !#$%&'*+-.^_`|~ (they travel as HTTP header names)"}
		}
		if strings.IndexFunc(v, func(r rune) bool { return r > '~' || r < ' ' }) >= 0 {
			return &OptionError{Name: "Metadata", Value: k + "=" + v, Reason: "values are printable ASCII (S3 sends them as HTTP header values)"}
		}
	}
	if len(o.Tags) > 10 {
		return &OptionError{Name: "Tags", Reason: fmt.Sprintf("S3 allows at most 10 tags per object, got %d", len(o.Tags))}
	}
	for k, v := range o.Tags {
		if k == "" || len(k) > 128 || len(v) > 256 {
			return &OptionError{Name: "Tags", Value: k, Reason: "keys are 1-128 characters, values at most 256"}
		}
		if bad := strings.IndexFunc(k+v, func(r rune) bool {
			return !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsSpace(r) && !strings.ContainsRune("_.:/=+-@", r)
		}); bad >= 0 {
			return &OptionError{Name: "Tags", Value: k + "=" + v, Reason: "S3 allows only letters, digits, spaces and _ . : / = + - @ in tags"}
		}
	}
	return nil
}

func (o ObjectOptions) contentType() *string {
	if o.ContentType == "" {
		return aws.String("text/csv")
	}
	return aws.String(o.ContentType)
}

func (o ObjectOptions) tagging() *string {
	if len(o.Tags) == 0 {
		return nil
	}
	v := url.Values{}
	keys := make([]string, 0, len(o.Tags))
	for k := range o.Tags {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v.Set(k, o.Tags[k])
	}
	return aws.String(v.Encode())
}

func optional(s string) *string {
	if s == "" {
		return nil
	}
	return aws.String(s)
}

// objectFields are the fields PutObjectInput and CreateMultipartUploadInput share: apply fills
// either, so the two upload paths cannot drift apart.
type objectFields struct {
	contentType, contentEncoding, kmsKeyID, tagging **string
	sse                                             *types.ServerSideEncryption
	class                                           *types.StorageClass
	metadata                                        *map[string]string
}

func (o ObjectOptions) apply(f objectFields) {
	*f.contentType = o.contentType()
	*f.contentEncoding = optional(o.ContentEncoding)
	*f.sse = types.ServerSideEncryption(o.SSE)
	*f.kmsKeyID = optional(o.SSEKMSKeyID)
	*f.class = types.StorageClass(o.StorageClass)
	*f.metadata = o.Metadata
	*f.tagging = o.tagging()
}

func (o ObjectOptions) applyPut(in *s3.PutObjectInput) {
	o.apply(objectFields{&in.ContentType, &in.ContentEncoding, &in.SSEKMSKeyId, &in.Tagging, &in.ServerSideEncryption, &in.StorageClass, &in.Metadata})
}

func (o ObjectOptions) applyCreate(in *s3.CreateMultipartUploadInput) {
	o.apply(objectFields{&in.ContentType, &in.ContentEncoding, &in.SSEKMSKeyId, &in.Tagging, &in.ServerSideEncryption, &in.StorageClass, &in.Metadata})
}

// TimeoutError is one attempt of an S3 request that took longer than its time limit. The SDK's
// retryer retries it (it is a stall, not the caller's cancellation).
type TimeoutError struct {
	After time.Duration
	Err   error
}

func (e *TimeoutError) Error() string {
	return fmt.Sprintf("no answer within %s (%v)", e.After, e.Err)
}

// RetryableError tells the SDK's retryer to try again. There is deliberately no Unwrap: the
// wrapped error is a context cancellation, which the retryer would refuse to retry.
func (e *TimeoutError) RetryableError() bool { return true }

// attemptTimeout limits each attempt of a request (it sits inside the SDK's retry loop), so a
// stalled connection is cut and retried instead of hanging the export.
type attemptTimeout time.Duration

func (attemptTimeout) ID() string { return "pg2s3AttemptTimeout" }

func (a attemptTimeout) HandleFinalize(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
	actx, cancel := context.WithTimeout(ctx, time.Duration(a))
	defer cancel()
	out, md, err := next.HandleFinalize(actx, in)
	if err != nil && ctx.Err() == nil && actx.Err() == context.DeadlineExceeded {
		err = &TimeoutError{After: time.Duration(a), Err: err}
	}
	return out, md, err
}

// withAttemptTimeout adds a per-attempt time limit to one call.
func withAttemptTimeout(d time.Duration) func(*s3.Options) {
	return func(o *s3.Options) {
		if d <= 0 {
			return
		}
		o.APIOptions = append(o.APIOptions, func(stack *middleware.Stack) error {
			return stack.Finalize.Insert(attemptTimeout(d), "Retry", middleware.After)
		})
	}
}

// Archival says whether objects of the storage class must be restored before they can be read.
func Archival(class string) bool {
	switch types.StorageClass(class) {
	case types.StorageClassGlacier, types.StorageClassDeepArchive:
		return true
	}
	return false
}

// A request that must run to its end after the caller's cancellation (a PutObject or a Complete
// already sent: the caller must learn whether it was applied) runs on a context made by keepGoing.
// Its attempt in flight finishes, but once the caller's context is done no new attempt starts: a
// stop request ends a run after that attempt, not after every retry of it.
type stopKey struct{}

type stopper struct{ ctx context.Context } // nil: nothing but the request's own context stops it

// keepGoing returns a context that ctx's cancellation does not reach, whose requests stop retrying
// when ctx is done.
func keepGoing(ctx context.Context) context.Context {
	return context.WithValue(context.WithoutCancel(ctx), stopKey{}, stopper{ctx})
}

// ownStop returns ctx with nothing but its own cancellation to stop its requests (for clean-up,
// which runs after the caller's stop, within a time limit of its own).
func ownStop(ctx context.Context) context.Context {
	return context.WithValue(ctx, stopKey{}, stopper{})
}

// callRetryer is the retryer of one request: it logs each retry (the request, the object, the
// attempt and its cause), and it starts no new attempt once stop is done, not even after a
// backoff it is waiting out. The first attempt always goes: a request made after the stop (the
// HEAD that finds out whether a write was applied) is made on purpose.
type callRetryer struct {
	aws.RetryerV2
	stop            context.Context // nil: never
	op, bucket, key string
	logger          *slog.Logger
	attempts        atomic.Int32
}

func (r *callRetryer) stopped() error {
	if r.stop == nil || r.stop.Err() == nil {
		return nil
	}
	return context.Cause(r.stop)
}

func (r *callRetryer) RetryDelay(attempt int, err error) (time.Duration, error) {
	if cause := r.stopped(); cause != nil {
		return 0, fmt.Errorf("%w; not tried again: %w", err, cause)
	}
	var d time.Duration
	var e error
	if c, ok := r.RetryerV2.(countingRetryer); ok { // counted there, logged here
		d, e = c.delay(attempt, err)
	} else {
		d, e = r.RetryerV2.RetryDelay(attempt, err)
	}
	if e != nil {
		return d, e
	}
	r.logger.Info("retrying an S3 request", "request", r.op, "object", "s3://"+r.bucket+"/"+r.key, "attempt", attempt+1,
		"of", r.MaxAttempts(), "after", d.Round(time.Millisecond), "cause", describe(err))
	if r.stop == nil {
		return d, nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-r.stop.Done():
		return 0, fmt.Errorf("%w; not tried again: %w", err, context.Cause(r.stop))
	case <-t.C:
		return 0, nil
	}
}

func (r *callRetryer) GetAttemptToken(ctx context.Context) (func(error) error, error) {
	if n := r.attempts.Add(1); n > 1 {
		if cause := r.stopped(); cause != nil {
			return nil, cause
		}
	}
	return r.RetryerV2.GetAttemptToken(ctx)
}

// withRetries makes the request's retryer a callRetryer, stopped by what keepGoing or ownStop put
// in ctx, else by ctx itself.
func withRetries(ctx context.Context, op, bucket, key string, logger *slog.Logger) func(*s3.Options) {
	stop := ctx
	if s, ok := ctx.Value(stopKey{}).(stopper); ok {
		stop = s.ctx
	}
	return func(o *s3.Options) {
		if inner, ok := o.Retryer.(aws.RetryerV2); ok {
			o.Retryer = &callRetryer{RetryerV2: inner, stop: stop, op: op, bucket: bucket, key: key, logger: logger}
		}
	}
}
