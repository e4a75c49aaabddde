package upload

import (
	"bytes"
	"context"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"golang.org/x/sync/errgroup"
)

// API is the part of *s3.Client an Uploader uses.
type API interface {
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	CreateMultipartUpload(context.Context, *s3.CreateMultipartUploadInput, ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error)
	UploadPart(context.Context, *s3.UploadPartInput, ...func(*s3.Options)) (*s3.UploadPartOutput, error)
	CompleteMultipartUpload(context.Context, *s3.CompleteMultipartUploadInput, ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error)
	AbortMultipartUpload(context.Context, *s3.AbortMultipartUploadInput, ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error)
	HeadObject(context.Context, *s3.HeadObjectInput, ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	DeleteObject(context.Context, *s3.DeleteObjectInput, ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
}

// Checksum names the checksum every part and the whole object carry.
type Checksum string

const (
	CRC32C     Checksum = "crc32c"
	CRC64NVME  Checksum = "crc64nvme"
	NoChecksum Checksum = "none"
)

// ParseChecksum accepts crc32c, crc64nvme or none (any case).
func ParseChecksum(s string) (Checksum, error) {
	switch c := Checksum(lower(s)); c {
	case CRC32C, CRC64NVME, NoChecksum:
		return c, nil
	}
	return "", fmt.Errorf("unknown checksum %q (want crc32c, crc64nvme or none)", s)
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func (c Checksum) algorithm() types.ChecksumAlgorithm {
	switch c {
	case CRC32C:
		return types.ChecksumAlgorithmCrc32c
	case CRC64NVME:
		return types.ChecksumAlgorithmCrc64nvme
	}
	return ""
}

// Options are the settings of an upload; the zero value of each means its default.
type Options struct {
	PartSize    int64         // size of the first parts; grows on the PartSize schedule (default 16 MiB)
	Concurrency int           // parts uploaded at once (default 4)
	Checksum    Checksum      // default CRC32C
	Object      ObjectOptions // content type, encoding, encryption, storage class, metadata, tags
	PartTimeout time.Duration // time limit of each attempt of each S3 request (default 5 minutes; Complete gets at least 15)
	// NoClobber never replaces an existing object: PutObject and CompleteMultipartUpload carry
	// If-None-Match: *, so that the store refuses atomically (HTTP 412, an *ExistsError). Where a
	// store does not implement the condition, a HEAD decides instead, with a warning that the
	// check is not atomic.
	NoClobber bool
	// Store addresses the store in the commands that errors print (see Store).
	Store Store
}

// New returns the uploader of the object to with the options o: the one way pg2s3 assembles one.
func New(client API, to URL, o Options) *Uploader {
	return &Uploader{Client: client, Bucket: to.Bucket, Key: to.Key, Options: o}
}

// Uploader streams one object. The zero value is not usable: set Client, Bucket and Key.
type Uploader struct {
	Client API
	Bucket string
	Key    string
	Options

	AbortTimeout time.Duration // how long clean-up may take after a failure (default 2 minutes)
	Logger       *slog.Logger  // warnings (checksum fallback); default: discard

	// Budget, when set, is a memory limit this upload shares with others (see Budget).
	Budget *Budget

	// OnPart, when set, is called after each part is uploaded, one call at a time.
	OnPart func(partNumber int, size int64)
}

// Result describes a completed object.
type Result struct {
	Bucket    string `json:"bucket"`
	Key       string `json:"key"`
	Bytes     int64  `json:"bytes"`
	Parts     int    `json:"parts"` // 1 for a single PutObject
	UploadID  string `json:"upload_id,omitempty"`
	ETag      string `json:"etag,omitempty"`
	Checksum  string `json:"checksum,omitempty"` // algorithm:base64 of the whole object, when used
	Multipart bool   `json:"multipart"`
}

func (u *Uploader) defaults() (partSize int64, concurrency int, checksum Checksum, abortTimeout time.Duration, logger *slog.Logger) {
	partSize, concurrency, checksum, abortTimeout, logger = u.PartSize, u.Concurrency, u.Checksum, u.AbortTimeout, u.Logger
	if partSize == 0 {
		partSize = DefaultPart
	}
	if concurrency < 1 {
		concurrency = 4
	}
	if checksum == "" {
		checksum = CRC32C
	}
	if abortTimeout <= 0 {
		abortTimeout = 2 * time.Minute
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	return
}

// opts are the per-call options of a request: a time limit for each attempt and, for bodies that
// carry a checksum, no SHA-256 of the payload.
func (u *Uploader) opts(ctx context.Context, op string, c Checksum, minTimeout time.Duration) []func(*s3.Options) {
	d := u.PartTimeout
	if d == 0 {
		d = 5 * time.Minute
	}
	_, _, _, _, logger := u.defaults()
	return []func(*s3.Options){withAttemptTimeout(max(d, minTimeout)), unsignedPayload(c), withRetries(ctx, op, u.Bucket, u.Key, logger)}
}

// Upload reads r until io.EOF and stores what it read as the object. Any other error from r (for
// example the producer's CloseWithError on an io.Pipe) aborts the upload and is returned wrapped.
// Upload returns only after every request it started has finished and, on failure, after the abort.
func (u *Uploader) Upload(ctx context.Context, r io.Reader) (Result, error) {
	partSize, concurrency, checksum, _, _ := u.defaults()
	if err := CheckPartSize(partSize); err != nil {
		return Result{}, err
	}
	if u.Bucket == "" || u.Key == "" {
		return Result{}, errors.New("upload: bucket and key are required")
	}
	pool := newPool(concurrency+1, u.Budget)
	defer pool.close()

	// Read the first part; if the stream ends inside it, one PutObject does. A small buffer comes
	// first, so that a small object (a partition's, a split's tail) holds that much memory and not
	// a whole part while it waits for its PutObject.
	small, err := pool.get(ctx, min(smallRead, PartSize(1, partSize)))
	if err != nil {
		return Result{}, err
	}
	n, err := io.ReadFull(r, small)
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return u.put(ctx, small[:n], checksum)
	}
	if err != nil {
		return Result{}, u.readError(err, 1)
	}
	first, err := pool.get(ctx, PartSize(1, partSize))
	if err != nil {
		return Result{}, err
	}
	copy(first, small)
	pool.put(small)
	n, err = io.ReadFull(r, first[len(small):])
	first = first[:len(small)+n]
	if err == io.EOF || err == io.ErrUnexpectedEOF {
		return u.put(ctx, first, checksum)
	}
	if err != nil {
		return Result{}, u.readError(err, 1)
	}
	// The first part is full: peek at one more byte, so that output of exactly one part size is still
	// a single PutObject and a multipart upload never ends with an empty part. (A byte, not a part:
	// a stream that has ended never waits for memory it does not need.)
	var peek [1]byte
	if _, err := io.ReadFull(r, peek[:]); err == io.EOF {
		return u.put(ctx, first, checksum)
	} else if err != nil {
		return Result{}, u.readError(err, 2)
	}
	second, err := pool.get(ctx, PartSize(2, partSize))
	if err != nil {
		return Result{}, err
	}
	second[0] = peek[0]
	n, err = io.ReadFull(r, second[1:])
	second = second[:1+n]
	if err != nil && err != io.EOF && err != io.ErrUnexpectedEOF {
		return Result{}, u.readError(err, 2)
	}
	last := err != nil
	return u.multipart(ctx, r, pool, first, second, last, checksum)
}

// smallRead is the first buffer of every upload: a stream that ends within it is stored from it.
const smallRead = 256 << 10

func (u *Uploader) readError(err error, part int) error {
	return fmt.Errorf("reading part %d for s3://%s/%s: %w", part, u.Bucket, u.Key, err)
}

// put stores body with a single PutObject and verifies the result.
//
// A cancellation that comes before the PutObject is sent stops it; once sent, the request and the
// check run to their end on a context the cancellation does not reach, so that the caller knows
// whether the object exists (a request cut mid-way may or may not have been applied).
func (u *Uploader) put(ctx context.Context, body []byte, checksum Checksum) (Result, error) {
	_, _, _, _, logger := u.defaults()
	if err := ctx.Err(); err != nil {
		return Result{}, context.Cause(ctx)
	}
	ctx = keepGoing(ctx)
	sum := checksum.sum(body) // once, for the request, the result and the store's answer
	in := func(c Checksum) *s3.PutObjectInput {
		in := &s3.PutObjectInput{
			Bucket:        &u.Bucket,
			Key:           &u.Key,
			Body:          bytes.NewReader(body),
			ContentLength: aws.Int64(int64(len(body))),
		}
		u.Object.applyPut(in)
		setChecksum(c, sum, &in.ChecksumAlgorithm, &in.ChecksumCRC32C, &in.ChecksumCRC64NVME) // nothing for NoChecksum
		return in
	}
	conditional := u.NoClobber
	put := func() (*s3.PutObjectOutput, error) {
		req := in(checksum)
		if conditional {
			req.IfNoneMatch = aws.String("*")
		}
		return u.Client.PutObject(ctx, req, u.opts(ctx, "put object", checksum, 0)...)
	}
	out, err := put()
	if err != nil && checksum != NoChecksum && rejectsChecksum(err) {
		logger.Warn("the S3 store rejected the checksum header; uploading without a checksum",
			"bucket", u.Bucket, "key", u.Key, "checksum", string(checksum), "error", describe(err))
		checksum = NoChecksum
		out, err = put()
	}
	if err != nil && conditional && rejectsCondition(err) {
		if err := u.checkAbsent(ctx); err != nil {
			return Result{}, err
		}
		conditional = false
		out, err = put()
	}
	res := Result{Bucket: u.Bucket, Key: u.Key, Bytes: int64(len(body)), Parts: 1}
	if checksum != NoChecksum {
		res.Checksum = string(checksum) + ":" + sum
	}
	if err != nil {
		md5sum := md5.Sum(body)
		if stored, serr := u.settle(ctx, "put object", res, hex.EncodeToString(md5sum[:]), err); stored {
			return res, nil
		} else if serr != nil {
			err = serr
		}
		if isPreconditionFailed(err) {
			return Result{}, &ExistsError{Bucket: u.Bucket, Key: u.Key}
		}
		return Result{}, &Error{Op: "put object", Bucket: u.Bucket, Key: u.Key, Err: err}
	}
	res.ETag = aws.ToString(out.ETag)
	if checksum != NoChecksum {
		// The store's own checksum of what it received, in its answer, equal to ours: it has
		// verified the whole body, and a HEAD would say nothing more (a request less per object,
		// which is most of the cost of many small objects, as partitions make).
		if checksum.pick(out.ChecksumCRC32C, out.ChecksumCRC64NVME) == sum {
			return res, nil
		}
	}
	return res, u.verify(ctx, res, checksum, false)
}

// setChecksum fills the checksum fields of a request for algorithm c with the base64 value sum.
func setChecksum(c Checksum, sum string, alg *types.ChecksumAlgorithm, crc32c, crc64 **string) {
	switch c {
	case CRC32C:
		*alg, *crc32c = types.ChecksumAlgorithmCrc32c, aws.String(sum)
	case CRC64NVME:
		*alg, *crc64 = types.ChecksumAlgorithmCrc64nvme, aws.String(sum)
	}
}

func (u *Uploader) multipart(ctx context.Context, r io.Reader, pool *pool, first, second []byte, last bool, checksum Checksum) (res Result, err error) {
	if err := ctx.Err(); err != nil {
		return Result{}, context.Cause(ctx)
	}
	uploadID, checksum, err := u.create(ctx, checksum)
	if err != nil {
		return Result{}, err
	}
	res = Result{Bucket: u.Bucket, Key: u.Key, UploadID: uploadID, Multipart: true}
	defer func() {
		if err != nil {
			err = u.abort(ctx, uploadID, err)
		}
	}()
	if err := ctx.Err(); err != nil { // cancelled while the upload was being created: abort it
		return res, context.Cause(ctx)
	}
	sent, err := u.sendParts(ctx, r, pool, uploadID, first, second, last, checksum)
	res.Bytes, res.Parts = sent.bytes, sent.count
	if err != nil {
		return res, err
	}
	if err := ctx.Err(); err != nil {
		return res, err
	}
	// From here on the upload is published or fails on its own: a cancellation cutting the Complete
	// mid-way would leave the caller not knowing whether the object exists.
	return u.complete(keepGoing(ctx), res, sent, checksum)
}

// create starts the multipart upload, with a full-object checksum unless the store refuses the
// header (then without, and the checksum it returns is NoChecksum).
func (u *Uploader) create(ctx context.Context, checksum Checksum) (uploadID string, _ Checksum, err error) {
	_, _, _, _, logger := u.defaults()
	create := func(c Checksum) (*s3.CreateMultipartUploadOutput, error) {
		in := &s3.CreateMultipartUploadInput{Bucket: &u.Bucket, Key: &u.Key}
		u.Object.applyCreate(in)
		if c != NoChecksum {
			in.ChecksumAlgorithm = c.algorithm()
			in.ChecksumType = types.ChecksumTypeFullObject
		}
		// Not cancellable once sent: a CreateMultipartUpload cut mid-way may have created an upload
		// whose ID never reaches us, and nobody could abort it. The cancellation is checked after.
		cctx := keepGoing(ctx)
		return u.Client.CreateMultipartUpload(cctx, in, u.opts(cctx, "create multipart upload", NoChecksum, 0)...)
	}
	out, err := create(checksum)
	if err != nil && checksum != NoChecksum && rejectsChecksum(err) {
		logger.Warn("the S3 store rejected the checksum header; uploading without checksums",
			"bucket", u.Bucket, "key", u.Key, "checksum", string(checksum), "error", describe(err))
		checksum = NoChecksum
		out, err = create(checksum)
	}
	if err != nil {
		return "", checksum, &Error{Op: "create multipart upload", Bucket: u.Bucket, Key: u.Key, Err: err}
	}
	uploadID = aws.ToString(out.UploadId)
	logger.Debug("created multipart upload", "bucket", u.Bucket, "key", u.Key, "upload_id", uploadID, "checksum", string(checksum))
	return uploadID, checksum, nil
}

// sentParts is what sendParts uploaded.
type sentParts struct {
	parts []types.CompletedPart
	sums  map[int32]partSum // each part's CRC and length, for the whole object's
	bytes int64
	count int
}

// sendParts uploads first, second and the rest of r as parts, concurrency at a time, each in a
// buffer of pool (the one being filled is the last of concurrency+1); it returns once every part
// sent has finished.
func (u *Uploader) sendParts(ctx context.Context, r io.Reader, pool *pool, uploadID string, first, second []byte, last bool, checksum Checksum) (sentParts, error) {
	partSize, concurrency, _, _, logger := u.defaults()
	var mu sync.Mutex
	sent := sentParts{sums: map[int32]partSum{}}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(concurrency)
	send := func(n int, body []byte) {
		sent.bytes += int64(len(body))
		sent.count = n
		g.Go(func() error {
			defer pool.put(body)
			p, crc, err := u.uploadPart(gctx, uploadID, n, body, checksum)
			if err != nil {
				return err
			}
			mu.Lock()
			defer mu.Unlock()
			sent.parts = append(sent.parts, p)
			sent.sums[int32(n)] = partSum{crc: crc, size: int64(len(body))}
			logger.Debug("uploaded part", "part", n, "bytes", len(body))
			if u.OnPart != nil {
				u.OnPart(n, int64(len(body)))
			}
			return nil
		})
	}
	send(1, first)
	send(2, second)
	var readErr error
	for n := 3; !last; n++ {
		if n > MaxParts {
			readErr = fmt.Errorf("the stream needs more than %d parts (%d bytes so far): S3's multipart limit", MaxParts, sent.bytes)
			break
		}
		buf, err := pool.get(gctx, PartSize(n, partSize))
		if err != nil {
			break // an upload failed; g.Wait reports why
		}
		m, err := io.ReadFull(r, buf)
		buf = buf[:m]
		if err == io.EOF { // the previous part was the last one, and full
			pool.put(buf)
			break
		}
		if err != nil && err != io.ErrUnexpectedEOF {
			pool.put(buf)
			readErr = u.readError(err, n)
			break
		}
		if sent.bytes+int64(m) > MaxObjectSize {
			pool.put(buf)
			readErr = fmt.Errorf("the stream is larger than S3's 5 TiB object limit")
			break
		}
		last = err == io.ErrUnexpectedEOF
		send(n, buf)
	}
	if err := g.Wait(); err != nil {
		return sent, err
	}
	return sent, readErr
}

// complete publishes the upload's parts as the object, with the full-object checksum combined from
// the parts' and the expected size, then verifies it; a lost answer is settled by a HEAD.
func (u *Uploader) complete(ctx context.Context, res Result, sent sentParts, checksum Checksum) (Result, error) {
	parts := sent.parts
	slices.SortFunc(parts, func(a, b types.CompletedPart) int { return int(*a.PartNumber - *b.PartNumber) })
	in := &s3.CompleteMultipartUploadInput{
		Bucket:          &u.Bucket,
		Key:             &u.Key,
		UploadId:        &res.UploadID,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: parts},
		MpuObjectSize:   aws.Int64(res.Bytes),
	}
	if checksum != NoChecksum {
		var crc uint64
		for i, p := range parts {
			ps := sent.sums[*p.PartNumber]
			if i == 0 {
				crc = ps.crc
			} else {
				crc = checksum.combine(crc, ps.crc, ps.size)
			}
		}
		sum := checksum.encode(crc)
		var alg types.ChecksumAlgorithm
		setChecksum(checksum, sum, &alg, &in.ChecksumCRC32C, &in.ChecksumCRC64NVME)
		in.ChecksumType = types.ChecksumTypeFullObject
		res.Checksum = string(checksum) + ":" + sum
	}
	if u.NoClobber {
		in.IfNoneMatch = aws.String("*")
	}
	cout, err := u.Client.CompleteMultipartUpload(ctx, in, u.opts(ctx, "complete multipart upload", NoChecksum, 15*time.Minute)...)
	if err != nil && u.NoClobber && rejectsCondition(err) {
		if err := u.checkAbsent(ctx); err != nil {
			return res, err
		}
		in.IfNoneMatch = nil
		cout, err = u.Client.CompleteMultipartUpload(ctx, in, u.opts(ctx, "complete multipart upload", NoChecksum, 15*time.Minute)...)
	}
	if err != nil {
		if stored, serr := u.settle(ctx, "complete multipart upload", res, multipartETag(parts), err); stored {
			return res, nil
		} else if serr != nil {
			err = serr
		}
		if isPreconditionFailed(err) {
			return res, &ExistsError{Bucket: u.Bucket, Key: u.Key}
		}
		return res, &Error{Op: "complete multipart upload", Bucket: u.Bucket, Key: u.Key, UploadID: res.UploadID, Err: err}
	}
	res.ETag = aws.ToString(cout.ETag)
	return res, u.verify(ctx, res, checksum, true)
}

// settle finds out whether a write that failed (after its retries) stored the object all the
// same: a connection dropped after the store applied a PutObject or CompleteMultipartUpload leaves
// the retry with NoSuchUpload or, under NoClobber, PreconditionFailed, or leaves no answer at all.
// The object is this upload's when a HEAD shows the streamed size and the streamed bytes' full-object
// checksum or, without one, the ETag they give (etag, hex). When the HEAD itself fails, the outcome
// is unknown, and the error says so.
func (u *Uploader) settle(ctx context.Context, op string, res Result, etag string, cause error) (stored bool, err error) {
	_, _, _, _, logger := u.defaults()
	head, herr := u.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &u.Bucket, Key: &u.Key, ChecksumMode: types.ChecksumModeEnabled}, u.opts(ctx, "head object (after "+op+")", NoChecksum, 0)...)
	switch {
	case Code(herr) == "NotFound" || Code(herr) == "NoSuchKey":
		return false, nil
	case herr != nil:
		return false, fmt.Errorf("%w; whether the object was stored is unknown: checking it failed too (%s)", cause, describe(herr))
	case aws.ToInt64(head.ContentLength) != res.Bytes:
		return false, nil
	}
	alg, sum, _ := strings.Cut(res.Checksum, ":")
	ours := sum != "" && Checksum(alg).pick(head.ChecksumCRC32C, head.ChecksumCRC64NVME) == sum ||
		etag != "" && strings.Trim(aws.ToString(head.ETag), `"`) == etag
	if ours {
		logger.Warn("the store's answer was lost, but the object is stored with the streamed bytes: counted as written",
			"request", op, "bucket", u.Bucket, "key", u.Key, "error", describe(cause))
	}
	return ours, nil
}

// multipartETag is the ETag S3 gives an object completed from parts: the MD5 of their MD5s, and
// their count ("" when a part's ETag is not an MD5, as under SSE-KMS).
func multipartETag(parts []types.CompletedPart) string {
	h := md5.New()
	for _, p := range parts {
		b, err := hex.DecodeString(strings.Trim(aws.ToString(p.ETag), `"`))
		if err != nil || len(b) != md5.Size {
			return ""
		}
		h.Write(b)
	}
	return fmt.Sprintf("%x-%d", h.Sum(nil), len(parts))
}

// partSum is one part's CRC and length.
type partSum struct {
	crc  uint64
	size int64
}

// uploadPart uploads one part and returns it with its CRC (0 without a checksum).
func (u *Uploader) uploadPart(ctx context.Context, uploadID string, n int, body []byte, checksum Checksum) (types.CompletedPart, uint64, error) {
	in := &s3.UploadPartInput{
		Bucket:        &u.Bucket,
		Key:           &u.Key,
		UploadId:      &uploadID,
		PartNumber:    aws.Int32(int32(n)),
		Body:          bytes.NewReader(body),
		ContentLength: aws.Int64(int64(len(body))),
	}
	crc := checksum.raw(body)
	sum := checksum.encode(crc)
	setChecksum(checksum, sum, &in.ChecksumAlgorithm, &in.ChecksumCRC32C, &in.ChecksumCRC64NVME)
	out, err := u.Client.UploadPart(ctx, in, u.opts(ctx, fmt.Sprintf("upload part %d", n), checksum, 0)...)
	if err != nil {
		return types.CompletedPart{}, 0, &Error{Op: fmt.Sprintf("upload part %d", n), Bucket: u.Bucket, Key: u.Key, UploadID: uploadID, Err: err}
	}
	p := types.CompletedPart{ETag: out.ETag, PartNumber: aws.Int32(int32(n))}
	switch checksum {
	case CRC32C:
		p.ChecksumCRC32C = aws.String(sum)
	case CRC64NVME:
		p.ChecksumCRC64NVME = aws.String(sum)
	}
	return p, crc, nil
}

// unsignedPayload skips SigV4's SHA-256 of the body (a quarter of pg2s3's CPU over plain HTTP, and
// as much again on the server) when the body carries its own CRC, which the store verifies. Without
// a checksum the body stays signed, so that something still protects it.
func unsignedPayload(c Checksum) func(*s3.Options) {
	return func(o *s3.Options) {
		if c != NoChecksum {
			o.APIOptions = append(o.APIOptions, v4.SwapComputePayloadSHA256ForUnsignedPayloadMiddleware)
		}
	}
}

// verify compares the stored object with what was streamed; on a mismatch the object is deleted.
func (u *Uploader) verify(ctx context.Context, res Result, checksum Checksum, multipart bool) error {
	head, err := u.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &u.Bucket, Key: &u.Key, ChecksumMode: types.ChecksumModeEnabled}, u.opts(ctx, "verify (head object)", NoChecksum, 0)...)
	if err != nil {
		return &Error{Op: "verify (head object)", Bucket: u.Bucket, Key: u.Key, Err: err}
	}
	var problem string
	if size := aws.ToInt64(head.ContentLength); size != res.Bytes {
		problem = fmt.Sprintf("the stored object has %d bytes, %d were streamed", size, res.Bytes)
	} else if stored := checksum.pick(head.ChecksumCRC32C, head.ChecksumCRC64NVME); stored != "" && res.Checksum != "" &&
		(!multipart || head.ChecksumType == types.ChecksumTypeFullObject) && string(checksum)+":"+stored != res.Checksum {
		problem = fmt.Sprintf("the stored object's %s is %s, the streamed bytes' is %s", checksum, stored, res.Checksum)
	}
	if problem == "" {
		return nil
	}
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
	defer cancel()
	dctx = ownStop(dctx)
	if _, err := u.Client.DeleteObject(dctx, &s3.DeleteObjectInput{Bucket: &u.Bucket, Key: &u.Key}, u.opts(dctx, "delete object (failed verify)", NoChecksum, 0)...); err != nil {
		problem += fmt.Sprintf("; deleting it failed too (%s): delete s3://%s/%s by hand", describe(err), u.Bucket, u.Key)
	} else {
		problem += "; the object was deleted"
	}
	return &Error{Op: "verify", Bucket: u.Bucket, Key: u.Key, Err: errors.New(problem)}
}

// pick returns, of a response's checksum fields, the one of algorithm c ("" when absent).
func (c Checksum) pick(crc32c, crc64nvme *string) string {
	switch c {
	case CRC32C:
		return aws.ToString(crc32c)
	case CRC64NVME:
		return aws.ToString(crc64nvme)
	}
	return ""
}

// checkAbsent is NoClobber's fallback for a store that does not implement If-None-Match: a HEAD,
// with a warning that another writer could still come between it and the write.
func (u *Uploader) checkAbsent(ctx context.Context) error {
	_, _, _, _, logger := u.defaults()
	logger.Warn("the S3 store does not implement conditional writes (If-None-Match); checking with HEAD instead, which is not atomic",
		"bucket", u.Bucket, "key", u.Key)
	_, err := u.Client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &u.Bucket, Key: &u.Key}, u.opts(ctx, "head object (no-clobber check)", NoChecksum, 0)...)
	switch {
	case err == nil:
		return &ExistsError{Bucket: u.Bucket, Key: u.Key}
	case Code(err) == "NotFound" || Code(err) == "NoSuchKey":
		return nil
	}
	return &Error{Op: "head object (no-clobber check)", Bucket: u.Bucket, Key: u.Key, Err: err}
}

// abort aborts the multipart upload after cause, on a context that the caller's cancellation does
// not reach, and returns cause (or an *AbortError carrying both when the abort fails).
func (u *Uploader) abort(ctx context.Context, uploadID string, cause error) error {
	_, _, _, timeout, logger := u.defaults()
	actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	actx = ownStop(actx)
	_, err := u.Client.AbortMultipartUpload(actx, &s3.AbortMultipartUploadInput{Bucket: &u.Bucket, Key: &u.Key, UploadId: &uploadID}, u.opts(actx, "abort multipart upload", NoChecksum, 0)...)
	logger.Debug("aborted multipart upload", "upload_id", uploadID, "cause", cause, "abort_error", err)
	if err != nil && !isNoSuchUpload(err) {
		return &AbortError{Bucket: u.Bucket, Key: u.Key, UploadID: uploadID, Store: u.Store, AbortErr: err, Cause: cause}
	}
	return cause
}
