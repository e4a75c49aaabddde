package command

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/pg2s3/pg2s3/engine"
	"github.com/pg2s3/pg2s3/upload"
)

// A printed command names the store the client talks to, as it resolved it, and never a secret.
func TestCommandsNameTheStore(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL", "http://elsewhere.example:1")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CA_BUNDLE", "")
	yes := true
	for _, tt := range []struct {
		cfg  upload.ClientConfig
		want []string
		not  []string
	}{
		{upload.ClientConfig{Endpoint: "http://user:s3cret@127.0.0.1:9000", Region: "eu-west-3"},
			[]string{"--endpoint-url http://127.0.0.1:9000", "--region eu-west-3"}, []string{"s3cret", "--path-style", "elsewhere"}},
		{upload.ClientConfig{Endpoint: "https://store.example:9000", PathStyle: &yes},
			[]string{"--endpoint-url https://store.example:9000", "--path-style"}, []string{"elsewhere"}},
		{upload.ClientConfig{Region: "us-west-2"}, // the endpoint from the environment is resolved, and printed
			[]string{"--endpoint-url http://elsewhere.example:1", "--region us-west-2"}, nil},
	} {
		c, err := upload.NewClient(context.Background(), tt.cfg)
		if err != nil {
			t.Fatal(err)
		}
		cmd := abortCommand("bkt", "p/k 1.csv", upload.StoreOf(c, tt.cfg))
		if !strings.HasPrefix(cmd, "pg2s3 cleanup 's3://bkt/p/k 1.csv' --older-than 0s") {
			t.Errorf("%s: not the cleanup of the key", cmd)
		}
		for _, w := range tt.want {
			if !strings.Contains(cmd, w) {
				t.Errorf("%s: lacks %q", cmd, w)
			}
		}
		for _, w := range tt.not {
			if strings.Contains(cmd, w) {
				t.Errorf("%s: has %q", cmd, w)
			}
		}
	}
}

// Every error that leaves something behind is followed by the commands that clean it up: one
// cleanup per key of the uploads, one delete per object, in the failed run's store.
func TestCleanupHints(t *testing.T) {
	store := upload.Store{Endpoint: "http://127.0.0.1:9000", Region: "eu-west-3"}
	args := " --endpoint-url http://127.0.0.1:9000 --region eu-west-3"
	two := []upload.Incomplete{{Bucket: "b", Key: "p/a.csv", UploadID: "u1"}, {Bucket: "b", Key: "p/a.csv", UploadID: "u2"}, {Bucket: "b", Key: "p/c.csv", UploadID: "u3"}}
	for _, tt := range []struct {
		name string
		err  error
		want string
	}{
		{"leftovers", &engine.LeftoverError{Err: errors.New("failed"), Uploads: two, Objects: []string{"s3://b/p/d.csv"}, Store: store},
			"; remove them with: pg2s3 cleanup s3://b/p/a.csv --older-than 0s" + args + " && pg2s3 cleanup s3://b/p/c.csv --older-than 0s" + args +
				" && aws s3 rm s3://b/p/d.csv" + args},
		{"snapshot gone", &engine.SnapshotGoneError{ID: "x", Prefix: "s3://b/p/", Open: two[2:], Store: store, Err: errors.New("gone")},
			"; to start again, delete the prefix with: aws s3 rm s3://b/p/" + args + " --recursive; once no attempt runs, abort them with: " +
				"pg2s3 cleanup s3://b/p/c.csv --older-than 0s" + args},
		{"abort failed", &upload.AbortError{Bucket: "b", Key: "k.csv", UploadID: "upload-1", Store: store, AbortErr: errors.New("denied"), Cause: errors.New("failed")},
			"; run `pg2s3 cleanup s3://b/k.csv --older-than 0s" + args + "` (or aws s3api abort-multipart-upload --bucket b --key k.csv --upload-id upload-1" + args + ")"},
		{"nothing left", errors.New("failed"), ""},
	} {
		if got := cleanupHint(tt.err); got != tt.want {
			t.Errorf("%s:\n got %q\nwant %q", tt.name, got, tt.want)
		}
	}
}
