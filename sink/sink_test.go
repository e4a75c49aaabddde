package sink

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

// A file is published only by Close; a stream closed with an error leaves the old file as it was
// and no temporary file.
func TestFilePublishesOnlyOnCleanEnd(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "out.csv")
	if err := os.WriteFile(path, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	o := Open(context.Background(), File{Path: path})
	o.Write([]byte("half a row"))
	boom := errors.New("COPY failed: division by zero")
	o.CloseWithError(boom)
	if _, err := o.Wait(); !errors.Is(err, boom) {
		t.Errorf("Wait = %v, want the producer's error", err)
	}
	if b, _ := os.ReadFile(path); string(b) != "old\n" {
		t.Errorf("the file holds %q after a failed stream, want the old content", b)
	}
	if names := entries(t, dir); len(names) != 1 {
		t.Errorf("files left: %v", names)
	}

	o = Open(context.Background(), File{Path: path})
	io.Copy(o, strings.NewReader("a,b\n1,2\n"))
	if err := o.Close(); err != nil {
		t.Fatal(err)
	}
	res, err := o.Wait()
	if err != nil || res.Bytes != 8 || res.URL != path {
		t.Fatalf("Wait = %+v, %v", res, err)
	}
	if b, _ := os.ReadFile(path); string(b) != "a,b\n1,2\n" {
		t.Errorf("the file holds %q", b)
	}
	if names := entries(t, dir); len(names) != 1 {
		t.Errorf("files left: %v", names)
	}
}

func TestFileCheck(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct{ path, want string }{
		{dir, "is a directory"},
		{filepath.Join(dir, "missing", "x.csv"), "no such file or directory"},
		{filepath.Join(dir, "ok.csv"), ""},
	} {
		err := File{Path: tt.path}.Check()
		if (tt.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Check(%s) = %v, want %q", tt.path, err, tt.want)
		}
	}
}

// failing is a target whose consumer gives up at once.
type failing struct{ err error }

func (f failing) String() string                                     { return "failing" }
func (f failing) Consume(context.Context, io.Reader) (Result, error) { return Result{}, f.err }

// A consumer that fails makes the producer's next Write fail with its error instead of blocking.
func TestConsumerFailureStopsProducer(t *testing.T) {
	denied := errors.New("S3 error AccessDenied")
	o := Open(context.Background(), failing{denied})
	if _, err := o.Wait(); !errors.Is(err, denied) {
		t.Fatalf("Wait = %v", err)
	}
	if _, err := o.Write(make([]byte, 1<<20)); !errors.Is(err, denied) {
		t.Errorf("Write after the consumer failed = %v, want its error", err)
	}
}

func TestStream(t *testing.T) {
	var buf bytes.Buffer
	o := Open(context.Background(), Stream{W: &buf, Name: "stdout"})
	o.Write([]byte("x\n"))
	o.Close()
	if res, err := o.Wait(); err != nil || res.Bytes != 2 || buf.String() != "x\n" || res.URL != "stdout" {
		t.Errorf("Wait = %+v, %v; buffer %q", res, err, buf.String())
	}
}
