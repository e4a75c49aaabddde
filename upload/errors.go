package upload

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/smithy-go"
)

// Error is an S3 request that failed, with what it was doing and on which object.
type Error struct {
	Op       string // "upload part 3", "create multipart upload", ...
	Bucket   string
	Key      string
	UploadID string
	Err      error
}

func (e *Error) Error() string {
	return fmt.Sprintf("%s of s3://%s/%s: %s", e.Op, e.Bucket, e.Key, describe(e.Err))
}

func (e *Error) Unwrap() error { return e.Err }

// AbortError means an upload failed (Cause) and aborting its multipart upload failed too (AbortErr):
// its parts stay stored, and billed, until someone aborts UploadID.
type AbortError struct {
	Bucket, Key, UploadID string
	Store                 Store // where the printed commands must go
	AbortErr              error
	Cause                 error
}

func (e *AbortError) Error() string {
	return fmt.Sprintf("%v; aborting multipart upload %s of s3://%s/%s failed too (%s): its parts stay stored, and billed, until it is aborted",
		e.Cause, e.UploadID, e.Bucket, e.Key, describe(e.AbortErr))
}

func (e *AbortError) Unwrap() error { return e.Cause }

// ShellQuote quotes s for a POSIX shell (left as is when it needs no quoting).
func ShellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./=:+@", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// describe renders an SDK error for a person: S3's error code and message, and the HTTP status,
// without the SDK's operation-error boilerplate.
func describe(err error) string {
	msg := describeOnce(err)
	var mae *retry.MaxAttemptsError
	if errors.As(err, &mae) {
		msg += fmt.Sprintf(", gave up after %d attempts", mae.Attempt)
	}
	return msg
}

func describeOnce(err error) string {
	if strings.Contains(err.Error(), "get credentials") {
		msg := err.Error()
		if i := strings.Index(msg, "get credentials: "); i >= 0 {
			msg = msg[i+len("get credentials: "):]
		}
		return "no usable AWS credentials (looked in AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE and the ~/.aws files, " +
			"SSO, web identity, and container and instance roles): " + msg
	}
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		msg := apiErr.ErrorCode()
		if m := apiErr.ErrorMessage(); m != "" {
			msg += ": " + m
		}
		var re *awshttp.ResponseError
		if errors.As(err, &re) && re.HTTPStatusCode() != 0 {
			msg += fmt.Sprintf(" (HTTP %d)", re.HTTPStatusCode())
		}
		return "S3 error " + msg
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) && re.HTTPStatusCode() != 0 {
		return fmt.Sprintf("HTTP %d %s: %v", re.HTTPStatusCode(), http.StatusText(re.HTTPStatusCode()), re.Err)
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		return "the S3 endpoint did not answer: " + ue.Error()
	}
	var oe *smithy.OperationError
	if errors.As(err, &oe) {
		return oe.Err.Error()
	}
	return err.Error()
}

// Code returns the S3 error code carried by err ("NoSuchBucket", "AccessDenied", ...), or "".
func Code(err error) string {
	var apiErr smithy.APIError
	if errors.As(err, &apiErr) {
		return apiErr.ErrorCode()
	}
	return ""
}

func isNoSuchUpload(err error) bool { return Code(err) == "NoSuchUpload" }

// rejectsChecksum says whether err looks like a store that does not implement the checksum headers
// (some S3-compatible stores answer NotImplemented or InvalidArgument/InvalidRequest naming them).
func rejectsChecksum(err error) bool {
	var apiErr smithy.APIError
	if !errors.As(err, &apiErr) {
		return false
	}
	switch apiErr.ErrorCode() {
	case "NotImplemented", "InvalidArgument", "InvalidRequest", "XAmzContentChecksumMismatch":
		m := strings.ToLower(apiErr.ErrorMessage())
		return strings.Contains(m, "checksum") || strings.Contains(m, "crc")
	}
	return false
}

// ExistsError is an object that exists and may not be replaced (NoClobber).
type ExistsError struct{ Bucket, Key string }

func (e *ExistsError) Error() string {
	return fmt.Sprintf("s3://%s/%s already exists, and it may not be replaced: nothing was written", e.Bucket, e.Key)
}

func isPreconditionFailed(err error) bool {
	if Code(err) == "PreconditionFailed" {
		return true
	}
	var re *awshttp.ResponseError
	return errors.As(err, &re) && re.HTTPStatusCode() == http.StatusPreconditionFailed
}

// rejectsCondition says whether the store does not implement a conditional write header.
func rejectsCondition(err error) bool {
	var re *awshttp.ResponseError
	return Code(err) == "NotImplemented" || errors.As(err, &re) && re.HTTPStatusCode() == http.StatusNotImplemented
}
