package main

import (
	"context"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/pg2s3/pg2s3/internal/testenv"
)

// The object options reach every object a run writes: the manifest (the object a loader reads
// first), the per-table manifests and an incremental run's state, not only the data.
func TestObjectOptionsOnEveryObject(t *testing.T) {
	bucket, client := testenv.Stack(t)
	testenv.Psql(t, `DROP TABLE IF EXISTS tag_a, tag_b;
		CREATE TABLE tag_a AS SELECT g AS id, now() AS updated_at FROM generate_series(1, 100) g;
		CREATE TABLE tag_b AS SELECT g AS id, now() AS updated_at FROM generate_series(1, 50) g;`)
	t.Cleanup(func() { testenv.Psql(t, "DROP TABLE IF EXISTS tag_a, tag_b") })
	prefix := testenv.Prefix(t, client, bucket)
	r := pg2s3(t, nil, "export", "-t", "tag_a", "-t", "tag_b", "--to", "s3://"+bucket+"/"+prefix, "--preset", "redshift",
		"--incremental", "updated_at", "--tag", "team=data", "--tag", "cost=etl", "--metadata", "source=nightly", "-q")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	keys := testenv.ListKeys(t, client, bucket, prefix)
	kinds := map[string]bool{}
	for _, k := range keys {
		switch {
		case strings.HasSuffix(k, "/manifest.json"):
			kinds["manifest"] = true
		case strings.Contains(k, "_pg2s3/"):
			kinds["state"] = true
		case strings.HasSuffix(k, ".manifest.json"):
			kinds["table manifest"] = true
		default:
			kinds["data"] = true
		}
	}
	if len(kinds) != 4 {
		t.Fatalf("the run wrote %v, want data, a manifest, table manifests and state objects: %v", kinds, keys)
	}
	for _, k := range keys {
		tags, err := client.GetObjectTagging(context.Background(), &s3.GetObjectTaggingInput{Bucket: &bucket, Key: aws.String(k)})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, tag := range tags.TagSet {
			got[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
		}
		if got["team"] != "data" || got["cost"] != "etl" {
			t.Errorf("s3://%s/%s: tags %v, want team=data and cost=etl", bucket, k, got)
		}
		head, err := client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String(k)})
		if err != nil {
			t.Fatal(err)
		}
		if head.Metadata["source"] != "nightly" {
			t.Errorf("s3://%s/%s: metadata %v, want source=nightly", bucket, k, head.Metadata)
		}
	}
}
