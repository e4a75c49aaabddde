package engine

import (
	"context"
	"os"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/pg2s3/pg2s3/internal/testenv"
	"github.com/pg2s3/pg2s3/upload"
)

// Object options reach MinIO on both paths: a single PutObject and a multipart upload.
func TestExportObjectOptions(t *testing.T) {
	bucket := testenv.Bucket(t)
	client := testenv.S3(t)
	kmsKey := os.Getenv("PG2S3_TEST_KMS_KEY")
	if kmsKey == "" {
		t.Skip("PG2S3_TEST_KMS_KEY is not set: run the tests with `make test` (MinIO needs a KMS key for SSE)")
	}
	for _, tt := range []struct {
		name, query string
		obj         upload.ObjectOptions
	}{
		{"put, SSE-S3", "SELECT 1", upload.ObjectOptions{SSE: "AES256", StorageClass: "REDUCED_REDUNDANCY",
			ContentType: "text/csv; charset=utf-8", Metadata: map[string]string{"source": "pg2s3"}, Tags: map[string]string{"env": "test", "team": "data team: a+b/c@d"}}},
		{"multipart, SSE-KMS", "SELECT g, md5(g::text) FROM generate_series(1, 300000) g", upload.ObjectOptions{SSE: "aws:kms", SSEKMSKeyID: kmsKey,
			Metadata: map[string]string{"source": "pg2s3"}, Tags: map[string]string{"env": "test"}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			key := testenv.Key(t)
			testenv.Remove(t, client, bucket, key)
			cfg := baseConfig(t, tt.query, "s3://"+bucket+"/"+key)
			cfg.Upload.Object = tt.obj
			sum, err := exportOne(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			if (sum.Parts > 1) != (tt.name[:5] == "multi") {
				t.Fatalf("%d parts: the case does not take the path it is named after", sum.Parts)
			}
			head, err := client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
			if err != nil {
				t.Fatal(err)
			}
			if string(head.ServerSideEncryption) != tt.obj.SSE {
				t.Errorf("encryption %q, want %q", head.ServerSideEncryption, tt.obj.SSE)
			}
			if tt.obj.SSEKMSKeyID != "" && aws.ToString(head.SSEKMSKeyId) == "" {
				t.Errorf("no KMS key id on the object")
			}
			if tt.obj.StorageClass != "" && string(head.StorageClass) != tt.obj.StorageClass {
				t.Errorf("storage class %q, want %q", head.StorageClass, tt.obj.StorageClass)
			}
			wantCT := tt.obj.ContentType
			if wantCT == "" {
				wantCT = "text/csv"
			}
			if aws.ToString(head.ContentType) != wantCT {
				t.Errorf("content type %q, want %q", aws.ToString(head.ContentType), wantCT)
			}
			if head.Metadata["source"] != "pg2s3" {
				t.Errorf("metadata %v", head.Metadata)
			}
			tags, err := client.GetObjectTagging(context.Background(), &s3.GetObjectTaggingInput{Bucket: &bucket, Key: &key})
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]string{}
			for _, tag := range tags.TagSet {
				got[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
			}
			for k, v := range tt.obj.Tags {
				if got[k] != v {
					t.Errorf("tag %s = %q, want %q (all: %v)", k, got[k], v, got)
				}
			}
		})
	}
}
