package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/pg2s3/pg2s3/internal/testenv"
)

// restartStore stops the stack's MinIO and starts it again with the same command line and
// environment, updating the stack's pid file so that the stack still stops it.
func restartStore(t *testing.T) {
	t.Helper()
	dir := os.Getenv("PG2S3_STACK_DIR")
	pidFile := filepath.Join(dir, "minio", "pid")
	b, err := os.ReadFile(pidFile)
	if dir == "" || err != nil {
		t.Skipf("PG2S3_STACK_DIR is not a stack.sh stack (%v): run the tests with `make test`", err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	argv, err1 := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/cmdline")
	env, err2 := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/environ")
	if err1 != nil || err2 != nil {
		t.Fatalf("reading MinIO's command line: %v %v", err1, err2)
	}
	args := strings.Split(strings.TrimRight(string(argv), "\x00"), "\x00")
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 300 && syscall.Kill(pid, 0) == nil; i++ {
		time.Sleep(100 * time.Millisecond)
	}
	logf, err := os.OpenFile(filepath.Join(dir, "minio", "server.log"), os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Env = strings.Split(strings.TrimRight(string(env), "\x00"), "\x00")
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(pidFile, []byte(strconv.Itoa(cmd.Process.Pid)+"\n"), 0o644)
	go cmd.Wait()
	for i := 0; i < 600; i++ { // ready: serving S3 requests, not only listening
		if resp, err := http.Get(testenv.Endpoint() + "/minio/health/ready"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatal("MinIO did not come back after the restart")
}

// After the store restarts, `pg2s3 cleanup s3://bucket/key` (the command pg2s3 names for an upload
// it could not abort, one per key) still finds the incomplete upload and aborts it. (A prefix above
// the key is not enough everywhere: MinIO, after a restart, lists an upload only for its exact key.
// The test logs what the prefix listing found.)
func TestCleanupAfterStoreRestart(t *testing.T) {
	bucket, client := testenv.Stack(t)
	ctx := context.Background()
	key := testenv.Key(t)
	up, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: &bucket, Key: &key})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.UploadPart(ctx, &s3.UploadPartInput{Bucket: &bucket, Key: &key, UploadId: up.UploadId,
		PartNumber: aws.Int32(1), Body: bytes.NewReader(make([]byte, 5<<20))}); err != nil {
		t.Fatal(err)
	}
	restartStore(t)
	listed := func(target string) bool {
		r := pg2s3(t, nil, "cleanup", target, "--older-than", "0s", "--dry-run", "--json")
		var rows []struct {
			UploadID string `json:"upload_id"`
		}
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &rows) != nil {
			t.Fatalf("cleanup %s: exit %d: %s %s", target, r.code, r.stdout, r.stderr)
		}
		for _, row := range rows {
			if row.UploadID == aws.ToString(up.UploadId) {
				return true
			}
		}
		return false
	}
	if !listed("s3://" + bucket + "/" + key) {
		t.Errorf("cleanup s3://%s/%s after the restart does not list upload %s", bucket, key, aws.ToString(up.UploadId))
	}
	t.Logf("after the restart, the prefix above the key lists the upload: %v", listed("s3://"+bucket+"/"+filepath.Dir(key)+"/"))
	if r := pg2s3(t, nil, "cleanup", "s3://"+bucket+"/"+key, "--older-than", "0s"); r.code != 0 {
		t.Fatalf("cleanup: exit %d: %s", r.code, r.stderr)
	}
	if ids := testenv.OpenUploads(t, client, bucket, key); len(ids) > 0 {
		t.Errorf("uploads still open after cleanup: %v", ids)
	}
}
