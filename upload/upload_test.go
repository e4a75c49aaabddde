package upload

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go"
)

// fakeS3 is an in-memory API for the error paths that a real server cannot be made to take on
// demand. Everything it accepts is checked the way S3 would (part order, sizes, checksums); the
// behaviour on real servers is tested against MinIO here (checksum_test.go, noclobber_test.go),
// in package engine and through the binary.
type fakeS3 struct {
	mu         sync.Mutex
	calls      []string
	parts      map[string][]byte // key/partNumber
	objects    map[string][]byte
	inFlight   int
	maxFlight  int
	failPart   int32 // UploadPart of this part number fails
	failAbort  bool
	noChecksum bool  // answer NotImplemented to checksum headers
	noIfNone   bool  // answer NotImplemented to If-None-Match
	truncate   int64 // store this many fewer bytes than sent on Complete
	partDelay  time.Duration
	abortCtx   error // the context error seen by AbortMultipartUpload
}

func newFake() *fakeS3 { return &fakeS3{parts: map[string][]byte{}, objects: map[string][]byte{}} }

func partKey(key string, n int32) string { return fmt.Sprintf("%s/%d", key, n) }

func (f *fakeS3) record(s string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, s)
}

func (f *fakeS3) called(prefix string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

func apiErr(code, msg string) error { return &smithy.GenericAPIError{Code: code, Message: msg} }

func (f *fakeS3) PutObject(_ context.Context, in *s3.PutObjectInput, _ ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	f.record("put")
	if f.noChecksum && in.ChecksumAlgorithm != "" {
		return nil, apiErr("NotImplemented", "x-amz-checksum-algorithm header is not implemented")
	}
	if f.noIfNone && in.IfNoneMatch != nil {
		return nil, apiErr("NotImplemented", "A header you provided implies functionality that is not implemented")
	}
	b, _ := io.ReadAll(in.Body)
	if in.ChecksumCRC32C != nil && *in.ChecksumCRC32C != CRC32C.sum(b) {
		return nil, apiErr("BadDigest", "crc32c mismatch")
	}
	f.mu.Lock()
	f.objects[*in.Key] = b
	f.mu.Unlock()
	return &s3.PutObjectOutput{ETag: aws.String(`"etag"`)}, nil
}

func (f *fakeS3) CreateMultipartUpload(_ context.Context, in *s3.CreateMultipartUploadInput, _ ...func(*s3.Options)) (*s3.CreateMultipartUploadOutput, error) {
	f.record("create")
	if f.noChecksum && in.ChecksumAlgorithm != "" {
		return nil, apiErr("NotImplemented", "x-amz-checksum-algorithm header is not implemented")
	}
	return &s3.CreateMultipartUploadOutput{UploadId: aws.String("upload-1")}, nil
}

func (f *fakeS3) UploadPart(ctx context.Context, in *s3.UploadPartInput, _ ...func(*s3.Options)) (*s3.UploadPartOutput, error) {
	f.record(fmt.Sprintf("part %d", *in.PartNumber))
	f.mu.Lock()
	f.inFlight++
	f.maxFlight = max(f.maxFlight, f.inFlight)
	f.mu.Unlock()
	defer func() { f.mu.Lock(); f.inFlight--; f.mu.Unlock() }()
	if f.partDelay > 0 {
		select {
		case <-time.After(f.partDelay):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if *in.PartNumber == f.failPart {
		return nil, apiErr("InternalError", "we encountered an internal error")
	}
	b, _ := io.ReadAll(in.Body)
	if in.ChecksumCRC32C != nil && *in.ChecksumCRC32C != CRC32C.sum(b) {
		return nil, apiErr("BadDigest", "crc32c mismatch")
	}
	f.mu.Lock()
	f.parts[partKey(*in.Key, *in.PartNumber)] = b
	f.mu.Unlock()
	return &s3.UploadPartOutput{ETag: aws.String(fmt.Sprintf(`"p%d"`, *in.PartNumber))}, nil
}

func (f *fakeS3) CompleteMultipartUpload(_ context.Context, in *s3.CompleteMultipartUploadInput, _ ...func(*s3.Options)) (*s3.CompleteMultipartUploadOutput, error) {
	f.record("complete")
	var all []byte
	for i, p := range in.MultipartUpload.Parts {
		if *p.PartNumber != int32(i+1) {
			return nil, apiErr("InvalidPartOrder", "parts out of order")
		}
		f.mu.Lock()
		b := f.parts[partKey(*in.Key, *p.PartNumber)]
		f.mu.Unlock()
		if i < len(in.MultipartUpload.Parts)-1 && len(b) < MinPartSize {
			return nil, apiErr("EntityTooSmall", "part too small")
		}
		all = append(all, b...)
	}
	if in.ChecksumCRC32C != nil && *in.ChecksumCRC32C != CRC32C.sum(all) {
		return nil, apiErr("BadDigest", "full-object crc32c mismatch")
	}
	f.mu.Lock()
	f.objects[*in.Key] = all[:int64(len(all))-f.truncate]
	f.mu.Unlock()
	return &s3.CompleteMultipartUploadOutput{ETag: aws.String(`"etag-n"`)}, nil
}

func (f *fakeS3) AbortMultipartUpload(ctx context.Context, in *s3.AbortMultipartUploadInput, _ ...func(*s3.Options)) (*s3.AbortMultipartUploadOutput, error) {
	f.record("abort")
	f.mu.Lock()
	f.abortCtx = ctx.Err()
	f.mu.Unlock()
	if f.failAbort {
		return nil, apiErr("AccessDenied", "no abort for you")
	}
	return &s3.AbortMultipartUploadOutput{}, nil
}

func (f *fakeS3) HeadObject(_ context.Context, in *s3.HeadObjectInput, _ ...func(*s3.Options)) (*s3.HeadObjectOutput, error) {
	f.record("head")
	f.mu.Lock()
	defer f.mu.Unlock()
	b, ok := f.objects[*in.Key]
	if !ok {
		return nil, apiErr("NotFound", "not found")
	}
	return &s3.HeadObjectOutput{ContentLength: aws.Int64(int64(len(b)))}, nil
}

func (f *fakeS3) DeleteObject(_ context.Context, in *s3.DeleteObjectInput, _ ...func(*s3.Options)) (*s3.DeleteObjectOutput, error) {
	f.record("delete")
	f.mu.Lock()
	delete(f.objects, *in.Key)
	f.mu.Unlock()
	return &s3.DeleteObjectOutput{}, nil
}

func data(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('a' + i%26)
	}
	return b
}

func newUploader(f *fakeS3) *Uploader {
	return &Uploader{Client: f, Bucket: "b", Key: "k.csv", Options: Options{PartSize: MinPartSize, Concurrency: 3}}
}

func TestUploadShapes(t *testing.T) {
	for _, tt := range []struct {
		name      string
		size      int
		parts     int
		multipart bool
	}{
		{"empty", 0, 1, false},
		{"small", 100, 1, false},
		{"exactly one part", MinPartSize, 1, false},
		{"one byte more", MinPartSize + 1, 2, true},
		{"exactly two parts", 2 * MinPartSize, 2, true},
		{"many parts", 7*MinPartSize + 3, 8, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			in := data(tt.size)
			res, err := newUploader(f).Upload(context.Background(), bytes.NewReader(in))
			if err != nil {
				t.Fatal(err)
			}
			if res.Parts != tt.parts || res.Multipart != tt.multipart || res.Bytes != int64(tt.size) {
				t.Errorf("result %+v, want %d parts, multipart %v", res, tt.parts, tt.multipart)
			}
			if !bytes.Equal(f.objects["k.csv"], in) {
				t.Errorf("stored object differs from the input")
			}
			if f.called("abort") != 0 {
				t.Errorf("abort called on success")
			}
		})
	}
}

// At most Concurrency parts are in flight and at most Concurrency+1 buffers exist.
func TestUploadBoundsBuffersAndConcurrency(t *testing.T) {
	f := newFake()
	f.partDelay = 20 * time.Millisecond
	u := newUploader(f)
	u.Concurrency = 2
	u.Budget = NewBudget(1 << 30) // generous: it only counts what the upload allocates
	if _, err := u.Upload(context.Background(), bytes.NewReader(data(12*MinPartSize))); err != nil {
		t.Fatal(err)
	}
	if f.maxFlight > 2 {
		t.Errorf("%d parts were in flight at once, want at most 2", f.maxFlight)
	}
	if got, bound := u.Budget.InUse(), int64(3*PartSize(1, u.PartSize)); got > bound || got == 0 {
		t.Errorf("%d bytes of part buffers were allocated, want at most concurrency+1 = 3 parts (%d bytes)", got, bound)
	}
}

func TestUploadPartFailureAborts(t *testing.T) {
	f := newFake()
	f.failPart = 3
	_, err := newUploader(f).Upload(context.Background(), bytes.NewReader(data(6*MinPartSize)))
	if err == nil {
		t.Fatal("upload succeeded")
	}
	for _, want := range []string{"upload part 3 of s3://b/k.csv", "InternalError"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
	if f.called("abort") != 1 || f.called("complete") != 0 {
		t.Errorf("calls %v: want one abort and no complete", f.calls)
	}
}

// A reader error (the COPY failed) aborts, even when it comes after many parts, and Complete is never called.
func TestUploadReaderErrorAborts(t *testing.T) {
	f := newFake()
	boom := errors.New("ERROR: division by zero (SQLSTATE 22012)")
	r := io.MultiReader(bytes.NewReader(data(3*MinPartSize+10)), &errReader{boom})
	_, err := newUploader(f).Upload(context.Background(), r)
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v, want it to wrap the reader's error", err)
	}
	if f.called("abort") != 1 || f.called("complete") != 0 || len(f.objects) != 0 {
		t.Errorf("calls %v, objects %d: want one abort, no complete, no object", f.calls, len(f.objects))
	}
}

type errReader struct{ err error }

func (e *errReader) Read([]byte) (int, error) { return 0, e.err }

// A reader error before a part is full: nothing is created at all.
func TestUploadEarlyErrorCreatesNothing(t *testing.T) {
	f := newFake()
	boom := errors.New("syntax error")
	_, err := newUploader(f).Upload(context.Background(), io.MultiReader(bytes.NewReader(data(100)), &errReader{boom}))
	if !errors.Is(err, boom) || len(f.calls) != 0 {
		t.Errorf("err %v, calls %v: want the reader's error and no S3 call", err, f.calls)
	}
}

// Cancellation: the abort runs on a context that is not cancelled.
func TestUploadCancelAbortsOnLiveContext(t *testing.T) {
	f := newFake()
	f.partDelay = 50 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	go func() {
		pw.Write(data(3 * MinPartSize))
		cancel()
		pw.CloseWithError(context.Canceled)
	}()
	_, err := newUploader(f).Upload(ctx, pr)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if f.called("abort") != 1 {
		t.Fatalf("calls %v: want one abort", f.calls)
	}
	if f.abortCtx != nil {
		t.Errorf("the abort ran on a cancelled context (%v): its parts would stay behind", f.abortCtx)
	}
}

func TestUploadAbortFailureNamesUpload(t *testing.T) {
	f := newFake()
	f.failPart, f.failAbort = 2, true
	_, err := newUploader(f).Upload(context.Background(), bytes.NewReader(data(3*MinPartSize)))
	var ae *AbortError
	if !errors.As(err, &ae) {
		t.Fatalf("err = %v, want an *AbortError", err)
	}
	if ae.Bucket != "b" || ae.Key != "k.csv" || ae.UploadID != "upload-1" {
		t.Errorf("the error names s3://%s/%s, upload %s; want s3://b/k.csv, upload-1 (the command line words the clean-up from them)", ae.Bucket, ae.Key, ae.UploadID)
	}
	for _, want := range []string{"upload-1", "AccessDenied", "upload part 2"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

func TestUploadChecksumFallback(t *testing.T) {
	for _, size := range []int{100, 3 * MinPartSize} {
		f := newFake()
		f.noChecksum = true
		var logs bytes.Buffer
		u := newUploader(f)
		u.Logger = slog.New(slog.NewTextHandler(&logs, nil))
		in := data(size)
		res, err := u.Upload(context.Background(), bytes.NewReader(in))
		if err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		if !bytes.Equal(f.objects["k.csv"], in) || res.Checksum != "" {
			t.Errorf("size %d: object stored %v, checksum %q", size, bytes.Equal(f.objects["k.csv"], in), res.Checksum)
		}
		if !strings.Contains(logs.String(), "rejected the checksum header") {
			t.Errorf("size %d: no warning logged: %q", size, logs.String())
		}
	}
}

func TestUploadSizeMismatchDeletes(t *testing.T) {
	f := newFake()
	f.truncate = 7
	_, err := newUploader(f).Upload(context.Background(), bytes.NewReader(data(2*MinPartSize+1)))
	if err == nil || !strings.Contains(err.Error(), "was deleted") {
		t.Fatalf("err = %v, want a size mismatch and the object deleted", err)
	}
	if _, ok := f.objects["k.csv"]; ok {
		t.Error("the short object is still there")
	}
}

func TestChecksumValues(t *testing.T) {
	// Check values of CRC-32C and CRC-64/NVME for "123456789".
	in := []byte("123456789")
	if got, want := CRC32C.sum(in), "4waSgw=="; got != want { // 0xe3069283
		t.Errorf("crc32c = %s, want %s", got, want)
	}
	if got, want := CRC64NVME.sum(in), "rosUhgp5mIg="; got != want { // 0xae8b14860a799888
		t.Errorf("crc64nvme = %s, want %s", got, want)
	}
}

// Uploads sharing a Budget never hold more than its limit, reuse each other's buffers, and all
// finish when the budget holds the 2 parts each active stream needs, but not all they would use.
func TestBudgetSharedByUploads(t *testing.T) {
	budget := NewBudget(12 * MinPartSize)
	f := newFake()
	f.partDelay = 5 * time.Millisecond
	var wg sync.WaitGroup
	errs := make(chan error, 6)
	for i := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			u := &Uploader{Client: f, Bucket: "b", Key: fmt.Sprintf("k%d", i), Options: Options{PartSize: MinPartSize, Concurrency: 3}, Budget: budget}
			_, err := u.Upload(context.Background(), bytes.NewReader(data(4*MinPartSize+i)))
			errs <- err
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(60 * time.Second):
		t.Fatal("uploads sharing a budget deadlocked")
	}
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// Everything handed back: the whole budget can be taken at once.
	budget.dropKept()
	if !budget.sem.TryAcquire(budget.Limit) {
		t.Error("the budget was not given back in full")
	}
	if _, err := budget.tryAllocate(13 * MinPartSize); err == nil || !strings.Contains(err.Error(), "does not fit") {
		t.Errorf("a part larger than the budget: %v", err)
	}
}

// Two uploads that would each like 5 buffers (concurrency 4) share a budget of 4: each must make do
// with its own buffers coming back from their parts rather than wait for the budget for ever.
func TestBudgetTightForConcurrency(t *testing.T) {
	budget := NewBudget(4 * MinPartSize)
	f := newFake()
	f.partDelay = 5 * time.Millisecond
	errs := make(chan error, 2)
	for i := range 2 {
		go func() {
			u := &Uploader{Client: f, Bucket: "b", Key: fmt.Sprintf("t%d", i), Options: Options{PartSize: MinPartSize, Concurrency: 4}, Budget: budget}
			_, err := u.Upload(context.Background(), bytes.NewReader(data(10*MinPartSize)))
			errs <- err
		}()
	}
	for range 2 {
		select {
		case err := <-errs:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(60 * time.Second):
			t.Fatal("deadlock: two uploads waiting on a spent budget while their own buffers were free")
		}
	}
}

// A store without conditional writes: NoClobber falls back to a HEAD, with a warning, and still
// refuses an existing key.
func TestNoClobberFallback(t *testing.T) {
	f := newFake()
	f.noIfNone = true
	u := newUploader(f)
	u.NoClobber = true
	var logs bytes.Buffer
	u.Logger = slog.New(slog.NewTextHandler(&logs, nil))
	if _, err := u.Upload(context.Background(), bytes.NewReader(data(100))); err != nil {
		t.Fatalf("first write to a free key: %v", err)
	}
	if !strings.Contains(logs.String(), "not atomic") {
		t.Errorf("no warning that the fallback is not atomic: %q", logs.String())
	}
	_, err := u.Upload(context.Background(), bytes.NewReader([]byte("other")))
	var exists *ExistsError
	if !errors.As(err, &exists) || !bytes.Equal(f.objects["k.csv"], data(100)) {
		t.Errorf("second write: %v; object %d bytes", err, len(f.objects["k.csv"]))
	}
}
