package upload

import (
	"context"
	"strings"
	"testing"
)

// A printed command names the store the client talks to, as it resolved it, and never a secret.
func TestCommandsNameTheStore(t *testing.T) {
	t.Setenv("AWS_ENDPOINT_URL", "http://elsewhere.example:1")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CA_BUNDLE", "")
	yes := true
	for _, tt := range []struct {
		cfg  ClientConfig
		want []string
		not  []string
	}{
		{ClientConfig{Endpoint: "http://user:s3cret@127.0.0.1:9000", Region: "eu-west-3"},
			[]string{"--endpoint-url http://127.0.0.1:9000", "--region eu-west-3"}, []string{"s3cret", "--path-style", "elsewhere"}},
		{ClientConfig{Endpoint: "https://store.example:9000", PathStyle: &yes},
			[]string{"--endpoint-url https://store.example:9000", "--path-style"}, []string{"elsewhere"}},
		{ClientConfig{Region: "us-west-2"}, // the endpoint from the environment is resolved, and printed
			[]string{"--endpoint-url http://elsewhere.example:1", "--region us-west-2"}, nil},
	} {
		c, err := NewClient(context.Background(), tt.cfg)
		if err != nil {
			t.Fatal(err)
		}
		cmd := CleanupCommand("bkt", "p/k 1.csv", StoreOf(c, tt.cfg))
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
