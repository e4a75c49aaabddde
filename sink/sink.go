// Package sink receives the byte stream of one object and publishes it only when the stream ended
// cleanly: an S3 object (one PutObject or a multipart upload, chosen by size, through package
// upload), a local file (a temporary file renamed into place), or a stream such as stdout.
//
// What it promises:
//
//   - [Open] starts the target's consumer in a goroutine joined to the caller by an io.Pipe: the
//     only pipe of pg2s3 (a [Stream], which has nothing to hold back, is written directly by the
//     producer instead). Writes block while the consumer is busy, which is back-pressure all the
//     way to PostgreSQL's socket; memory is the target's own (about (concurrency+1) x part size for
//     S3, 1 MiB for a file, the producer's buffer for a stream).
//   - Only [Object.Close] publishes: the consumer sees io.EOF and completes the upload or renames the
//     file. [Object.CloseWithError] makes it see the error instead, and it aborts the multipart upload
//     or removes the temporary file. Nothing half-written is ever published.
//   - A consumer that fails closes its end of the pipe with its error, so a producer still writing
//     gets that error at once instead of blocking for ever.
//   - Cancelling the context stops the consumer; clean-up (the abort) still runs, on a context the
//     cancellation does not reach (package upload).
package sink

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/pg2s3/pg2s3/upload"
)

// Target is where one object goes. Consume reads r until io.EOF and only then publishes; any other
// error from r discards what was read.
type Target interface {
	Consume(ctx context.Context, r io.Reader) (Result, error)
	String() string
}

// Result describes a published object.
type Result struct {
	URL      string // s3://bucket/key, a file path, or the stream's name
	Bytes    int64  // stored
	Parts    int    // S3 parts (1 for a single PutObject; 0 for files and streams)
	Checksum string // algorithm:base64 of the whole object, when the store computed one
	ETag     string
}

// Object is one object being written.
type Object struct {
	pw     *io.PipeWriter
	stream *Stream // written directly, by the producer: no pipe, no goroutine, no copy
	ended  sync.Once
	done   chan struct{}
	res    Result
	err    error
}

// Open starts t's consumer and returns the object's writer. A Stream has no consumer: it cannot
// take back what it wrote, so there is nothing to hold back until the end, and the producer writes
// into it directly (one copy and two goroutine switches less per buffer).
func Open(ctx context.Context, t Target) *Object {
	if s, ok := t.(Stream); ok {
		return &Object{stream: &s, done: make(chan struct{})}
	}
	pr, pw := io.Pipe()
	o := &Object{pw: pw, done: make(chan struct{})}
	go func() {
		defer close(o.done)
		o.res, o.err = t.Consume(ctx, pr)
		if o.err == nil {
			o.res.URL = t.String()
		}
		// A producer still writing stops at once (with the consumer's error, or ErrClosedPipe).
		pr.CloseWithError(o.err)
	}()
	return o
}

// Write sends b to the consumer; it blocks while the consumer is busy.
func (o *Object) Write(b []byte) (int, error) {
	if o.stream != nil {
		if o.err != nil {
			return 0, o.err
		}
		n, err := o.stream.W.Write(b)
		o.res.Bytes += int64(n)
		if err != nil {
			o.err = fmt.Errorf("writing to %s: %w", o.stream.Name, err)
		}
		return n, o.err
	}
	return o.pw.Write(b)
}

// Close ends the stream cleanly: the target publishes the object. Wait says how that went.
func (o *Object) Close() error {
	if o.stream != nil {
		o.endStream(nil)
		return nil
	}
	return o.pw.Close()
}

// CloseWithError ends the stream with err (not nil): nothing is published.
func (o *Object) CloseWithError(err error) {
	if err == nil {
		err = errors.New("sink: stream ended without a cause")
	}
	if o.stream != nil {
		o.endStream(err)
		return
	}
	o.pw.CloseWithError(err)
}

// endStream ends a direct stream once: with its first error, if any.
func (o *Object) endStream(err error) {
	o.ended.Do(func() {
		if o.err == nil {
			o.err = err
		}
		if o.err == nil {
			o.res.URL = o.stream.Name
		}
		close(o.done)
	})
}

// End ends the stream: cleanly when err is nil (Close), else with err (CloseWithError).
func (o *Object) End(err error) {
	if err != nil {
		o.CloseWithError(err)
		return
	}
	o.Close()
}

// Wait waits for the consumer and returns what it published.
func (o *Object) Wait() (Result, error) {
	<-o.done
	return o.res, o.err
}

// Func hands the stream to a function of this process that reads it (bench compares two streams
// side by side with it). F reads r as far as it needs; returning stops the producer, whose next
// Write fails.
type Func struct {
	Name string
	F    func(ctx context.Context, r io.Reader) error
}

func (t Func) String() string { return t.Name }

// Consume runs F.
func (t Func) Consume(ctx context.Context, r io.Reader) (Result, error) { return Result{}, t.F(ctx, r) }

// S3 uploads the stream as one object with a configured Uploader.
type S3 struct{ Uploader *upload.Uploader }

func (t S3) String() string {
	return upload.URL{Bucket: t.Uploader.Bucket, Key: t.Uploader.Key}.String()
}

// Consume uploads r.
func (t S3) Consume(ctx context.Context, r io.Reader) (Result, error) {
	res, err := t.Uploader.Upload(ctx, r)
	return Result{Bytes: res.Bytes, Parts: res.Parts, Checksum: res.Checksum, ETag: res.ETag}, err
}

// Stream writes the stream to W (stdout) as it comes: a stream cannot take back what it wrote, so
// a failed export leaves a partial stream behind and says so through its exit status.
type Stream struct {
	W    io.Writer
	Name string
}

func (t Stream) String() string { return t.Name }

// Consume copies r to W.
func (t Stream) Consume(_ context.Context, r io.Reader) (Result, error) {
	n, err := io.CopyBuffer(t.W, r, make([]byte, 1<<20))
	if err != nil {
		return Result{Bytes: n}, fmt.Errorf("writing to %s: %w", t.Name, err)
	}
	return Result{Bytes: n}, nil
}

// File writes a local file. A regular file (or none yet) is written to a temporary file beside it
// and renamed into place only after io.EOF. A symlink is written through, to its target, the same
// way (the link stays a link). A device, FIFO or socket is written into directly, as a shell
// redirection does (it cannot take back what it wrote; a failed export says so by its exit
// status). With NoClobber an existing file is never replaced: the finished file is hard-linked
// into place, which fails if the name exists by then.
type File struct {
	Path      string
	NoClobber bool
}

func (t File) String() string { return t.Path }

// resolve follows a symlink to the path that is written, and says what is there.
func (t File) resolve() (path string, fi os.FileInfo, err error) {
	path = t.Path
	for i := 0; i < 40; i++ {
		fi, err = os.Lstat(path)
		if err != nil || fi.Mode()&os.ModeSymlink == 0 {
			break
		}
		link, lerr := os.Readlink(path)
		if lerr != nil {
			return "", nil, lerr
		}
		if !filepath.IsAbs(link) {
			link = filepath.Join(filepath.Dir(path), link)
		}
		path = link
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return "", nil, err
	}
	if err != nil {
		return path, nil, nil // a new file (or a dangling link's target)
	}
	return path, fi, nil
}

// Check fails early when the file cannot be written, before anything runs on the server.
func (t File) Check() error {
	path, fi, err := t.resolve()
	switch {
	case err != nil:
		return &FileError{Path: t.Path, Reason: err.Error()}
	case fi != nil && fi.IsDir():
		return &FileError{Path: t.Path, Reason: "is a directory; give a file name"}
	case fi != nil && t.NoClobber:
		return &FileError{Path: t.Path, Reason: "exists, and File.NoClobber keeps it"}
	case fi != nil && !fi.Mode().IsRegular():
		return nil // a device or a FIFO: written into as it is
	}
	dir := filepath.Dir(path)
	dfi, err := os.Stat(dir)
	if err != nil {
		return &FileError{Path: t.Path, Reason: fmt.Sprintf("folder %s: %v", dir, errors.Unwrap(err))}
	}
	if !dfi.IsDir() {
		return &FileError{Path: t.Path, Reason: dir + " is not a folder"}
	}
	return nil
}

// Consume writes r to the file (see File) and publishes it on io.EOF.
func (t File) Consume(_ context.Context, r io.Reader) (res Result, err error) {
	path, fi, err := t.resolve()
	if err != nil {
		return res, fmt.Errorf("writing %s: %w", t.Path, err)
	}
	if fi != nil && !fi.Mode().IsRegular() && !t.NoClobber {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return res, fmt.Errorf("opening %s: %w", t.Path, err)
		}
		res.Bytes, err = io.CopyBuffer(f, r, make([]byte, 1<<20))
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return res, fmt.Errorf("writing %s: %w", t.Path, err)
		}
		return res, nil
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	tmp, err := os.CreateTemp(dir, "."+base+".pg2s3-*.tmp")
	if err != nil {
		return res, fmt.Errorf("creating a temporary file for %s: %w", t.Path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if res.Bytes, err = io.CopyBuffer(tmp, r, make([]byte, 1<<20)); err != nil {
		return res, fmt.Errorf("writing %s: %w", t.Path, err)
	}
	mode := os.FileMode(0o644)
	if fi != nil {
		mode = fi.Mode().Perm() // a replaced file keeps its permissions
	}
	if err = tmp.Chmod(mode); err == nil {
		if err = tmp.Sync(); err == nil {
			err = tmp.Close()
		}
	}
	if err != nil {
		return res, fmt.Errorf("writing %s: %w", t.Path, err)
	}
	if t.NoClobber {
		if err = os.Link(tmp.Name(), path); err != nil {
			if errors.Is(err, os.ErrExist) {
				return res, &FileError{Path: t.Path, Reason: "exists, and File.NoClobber keeps it: nothing was written"}
			}
			return res, fmt.Errorf("moving the finished file into place at %s: %w", t.Path, err)
		}
		os.Remove(tmp.Name())
		return res, nil
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return res, fmt.Errorf("moving the finished file into place at %s: %w", t.Path, err)
	}
	return res, nil
}

// WriteFile writes a small file atomically through f: write fills it.
func WriteFile(ctx context.Context, f File, write func(io.Writer) error) error {
	o := Open(ctx, f)
	if err := write(o); err != nil {
		o.CloseWithError(err)
		o.Wait()
		return err
	}
	o.Close()
	_, err := o.Wait()
	return err
}
