package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/pg2s3/pg2s3/internal/testenv"
)

// A prefix that holds objects is refused unless --overwrite or --clean-path; --clean-path leaves
// exactly the run's objects.
func TestPrefixOverwriteRules(t *testing.T) {
	bucket, client := testenv.Stack(t)
	testenv.Psql(t, `DROP TABLE IF EXISTS ow_a, ow_b; CREATE TABLE ow_a AS SELECT g FROM generate_series(1, 10) g;
		CREATE TABLE ow_b AS SELECT g FROM generate_series(1, 20) g;`)
	prefix := testenv.Prefix(t, client, bucket)
	to := "s3://" + bucket + "/" + prefix
	run := func(args ...string) result {
		return pg2s3(t, nil, append([]string{"export", "-t", "ow_a", "-t", "ow_b", "--to", to, "--json"}, args...)...)
	}
	if r := run(); r.code != 0 {
		t.Fatalf("first run into an empty prefix: exit %d: %s", r.code, r.stderr)
	}
	before := testenv.ListKeys(t, client, bucket, prefix)
	// A stray object of another run.
	stray := prefix + "old-run/part.csv"
	if _, err := client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: &bucket, Key: &stray, Body: strings.NewReader("x\n")}); err != nil {
		t.Fatal(err)
	}
	r := run()
	if r.code != 2 || !strings.Contains(r.stderr, "already holds objects") || !strings.Contains(r.stderr, "--overwrite") {
		t.Fatalf("second run without --overwrite: exit %d: %s", r.code, r.stderr)
	}
	if r := run("--overwrite"); r.code != 0 {
		t.Fatalf("--overwrite: exit %d: %s", r.code, r.stderr)
	}
	if keys := testenv.ListKeys(t, client, bucket, prefix); !slices.Contains(keys, stray) || len(keys) != len(before)+1 {
		t.Errorf("--overwrite: the prefix holds %v; want the run's objects and the stray one", keys)
	}
	if r := run("--clean-path"); r.code != 0 {
		t.Fatalf("--clean-path: exit %d: %s", r.code, r.stderr)
	}
	if keys := testenv.ListKeys(t, client, bucket, prefix); !slices.Equal(keys, before) {
		t.Errorf("--clean-path: the prefix holds %v, want exactly the run's %v", keys, before)
	}
}

// --no-clobber never replaces an object or a file, atomically: the store refuses the conditional
// write (If-None-Match: *) on both upload paths; without it an object is replaced as by aws s3 cp.
func TestNoClobber(t *testing.T) {
	bucket, client := testenv.Stack(t)
	for _, size := range []string{"one part", "multipart"} {
		t.Run(size, func(t *testing.T) {
			q := "SELECT g FROM generate_series(1, 10) g"
			if size == "multipart" {
				q = "SELECT g, md5(g::text) FROM generate_series(1, 300000) g"
			}
			k := testenv.Key(t)
			testenv.Remove(t, client, bucket, k)
			to := "s3://" + bucket + "/" + k
			if r := pg2s3(t, nil, "export", "-c", q, "--to", to, "--no-clobber", "--part-size", "5MiB"); r.code != 0 {
				t.Fatalf("first write: exit %d: %s", r.code, r.stderr)
			}
			first := testenv.Get(t, client, bucket, k)
			r := pg2s3(t, nil, "export", "-c", "SELECT 'other'", "--to", to, "--no-clobber")
			if r.code != 1 || !strings.Contains(r.stderr, "already exists") {
				t.Errorf("second write: exit %d, want 1 and 'already exists': %s", r.code, r.stderr)
			}
			if got := testenv.Get(t, client, bucket, k); testenv.SHA256(got) != testenv.SHA256(first) {
				t.Error("--no-clobber replaced the object")
			}
			testenv.AssertNothingLeft(t, client, bucket, k+".none") // no stray upload under the name
			if ids := testenv.OpenUploads(t, client, bucket, k); len(ids) > 0 {
				t.Errorf("uploads left open: %v", ids)
			}
			if r := pg2s3(t, nil, "export", "-c", "SELECT 'other'", "--to", to); r.code != 0 || string(testenv.Get(t, client, bucket, k)) != "other\n" {
				t.Errorf("without --no-clobber the object is replaced: exit %d: %s", r.code, r.stderr)
			}
		})
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "out.csv")
	os.WriteFile(file, []byte("keep\n"), 0o600)
	r := pg2s3(t, nil, "export", "-c", "SELECT 1", "--to", file, "--no-clobber")
	if b, _ := os.ReadFile(file); r.code != 2 || string(b) != "keep\n" || !strings.Contains(r.stderr, "--no-clobber") {
		t.Errorf("file: exit %d, content %q: %s", r.code, b, r.stderr)
	}
}

// File destinations are written like a shell redirection writes them: devices and FIFOs
// directly, symlinks through to their target (atomically for a regular file), and a replaced file
// keeps its permissions.
func TestFileDestinations(t *testing.T) {
	testenv.DSN(t)
	dir := t.TempDir()
	// /dev/null stays a device.
	if r := pg2s3(t, nil, "export", "-c", "SELECT 1", "--to", "/dev/null"); r.code != 0 {
		t.Fatalf("/dev/null: exit %d: %s", r.code, r.stderr)
	}
	if fi, err := os.Stat("/dev/null"); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		t.Fatalf("/dev/null is no longer a character device: %v %v", fi.Mode(), err)
	}
	// A FIFO is written into, and stays a FIFO.
	fifo := filepath.Join(dir, "pipe")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	got := make(chan []byte)
	go func() {
		b, _ := os.ReadFile(fifo) // blocks until pg2s3 opens the FIFO for writing
		got <- b
	}()
	if r := pg2s3(t, nil, "export", "-c", "SELECT g FROM generate_series(1, 3) g", "--to", fifo); r.code != 0 {
		t.Fatalf("FIFO: exit %d: %s", r.code, r.stderr)
	}
	if b := <-got; string(b) != "1\n2\n3\n" {
		t.Errorf("FIFO read %q", b)
	}
	if fi, _ := os.Lstat(fifo); fi.Mode()&os.ModeNamedPipe == 0 {
		t.Errorf("the FIFO became %v", fi.Mode())
	}
	// A symlink stays a symlink; its target gets the data and keeps its mode.
	target := filepath.Join(dir, "target.csv")
	os.WriteFile(target, []byte("old\n"), 0o640)
	link := filepath.Join(dir, "link.csv")
	os.Symlink("target.csv", link)
	if r := pg2s3(t, nil, "export", "-c", "SELECT 42", "--to", link); r.code != 0 {
		t.Fatalf("symlink: exit %d: %s", r.code, r.stderr)
	}
	if fi, _ := os.Lstat(link); fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the symlink became %v", fi.Mode())
	}
	if b, _ := os.ReadFile(target); string(b) != "42\n" {
		t.Errorf("the target holds %q", b)
	}
	if fi, _ := os.Stat(target); fi.Mode().Perm() != 0o640 {
		t.Errorf("the target's mode became %v", fi.Mode().Perm())
	}
	// A failed export leaves the target as it was, and no temporary file.
	if r := pg2s3(t, nil, "export", "-c", "SELECT 1/0", "--to", link); r.code != 1 {
		t.Errorf("failing export: exit %d", r.code)
	}
	if b, _ := os.ReadFile(target); string(b) != "42\n" {
		t.Errorf("a failed export changed the target to %q", b)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 3 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("files left: %v", names)
	}
}
