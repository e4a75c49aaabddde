package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// IcebergRead is an Iceberg table as a reader pg2s3 did not write sees it (testdata/iceberg/read.mjs:
// icebird for the table, avsc for its manifests).
type IcebergRead struct {
	Version  string `json:"version"` // "v<N>", from the version hint
	Snapshot *struct {
		ID      json.Number       `json:"snapshot-id"`
		Summary map[string]string `json:"summary"`
	} `json:"snapshot"`
	Schema struct {
		Fields []struct {
			ID       int    `json:"id"`
			Name     string `json:"name"`
			Type     any    `json:"type"`
			Required bool   `json:"required"`
		} `json:"fields"`
		Identifiers []int `json:"identifier-field-ids"`
	} `json:"schema"`
	Rows      []map[string]any `json:"rows"`
	Manifests []struct {
		Path     string      `json:"path"`
		Content  int         `json:"content"` // 0 data files, 1 delete files
		Sequence json.Number `json:"sequence"`
		Entries  []struct {
			Status      int    `json:"status"`  // 0 existing, 1 added, 2 deleted
			Content     int    `json:"content"` // 0 data, 1 position deletes, 2 equality deletes
			EqualityIDs []int  `json:"equalityIds"`
			Path        string `json:"path"`
			Records     int64  `json:"records,string"`
			Size        int64  `json:"size,string"`
			// The column metrics, by field ID; the bounds in hex.
			Values, Nulls, Sizes map[int]json.Number
			Lower, Upper         map[int]string
			// The file's partition as the manifest has it, and the distinct values its rows
			// hold of each partition column (read from the file).
			Partition map[string]any
			RowValues map[string][]any
		} `json:"entries"`
	} `json:"manifests"`
}

var anonymousOnce sync.Once

// ReadIceberg reads the Iceberg table at tableURL (s3://bucket/path/to/table) with the test
// readers. They read without credentials, so the test bucket is made readable by anyone (the
// store listens on loopback only).
func ReadIceberg(t testing.TB, client *s3.Client, tableURL string) IcebergRead {
	t.Helper()
	reader := os.Getenv("PG2S3_TEST_ICEBERG_READER")
	if reader == "" {
		t.Skip("PG2S3_TEST_ICEBERG_READER is not set: " + skipHint)
	}
	bucket := Bucket(t)
	var perr error
	anonymousOnce.Do(func() {
		policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["*"]},`+
			`"Action":["s3:GetObject"],"Resource":["arn:aws:s3:::%s/*"]}]}`, bucket)
		_, perr = client.PutBucketPolicy(context.Background(), &s3.PutBucketPolicyInput{Bucket: &bucket, Policy: &policy})
	})
	if perr != nil {
		t.Fatalf("making the test bucket readable for the Iceberg reader: %v", perr)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command("node", reader, Endpoint(), tableURL)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("the Iceberg reader failed on %s: %v\n%s", tableURL, err, stderr.String())
	}
	if stdout.Len() == 0 {
		t.Fatalf("the Iceberg reader printed nothing for %s\n%s", tableURL, stderr.String())
	}
	var got IcebergRead
	dec := json.NewDecoder(&stdout)
	dec.UseNumber()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("the Iceberg reader's output: %v", err)
	}
	return got
}
