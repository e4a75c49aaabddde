package upload_test

import (
	"bytes"
	"context"
	"math/rand/v2"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/pg2s3/pg2s3/internal/testenv"
	"github.com/pg2s3/pg2s3/upload"
)

// The whole object's checksum is combined from the parts' CRCs (no second pass over the bytes);
// the real store, which computes its own from the bytes it received, must agree for both
// algorithms, on a multipart object whose parts have different sizes.
func TestFullObjectChecksumAgreesWithStore(t *testing.T) {
	bucket, client := testenv.Stack(t)
	rng := rand.New(rand.NewPCG(3, 4))
	body := make([]byte, 3*upload.MinPartSize+12345)
	for i := range body {
		body[i] = byte(rng.Uint32())
	}
	for _, c := range []upload.Checksum{upload.CRC32C, upload.CRC64NVME} {
		t.Run(string(c), func(t *testing.T) {
			key := testenv.Key(t)
			testenv.Remove(t, client, bucket, key)
			u := upload.New(client, upload.URL{Bucket: bucket, Key: key}, upload.Options{PartSize: upload.MinPartSize, Checksum: c})
			res, err := u.Upload(context.Background(), bytes.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if res.Parts < 4 {
				t.Fatalf("%d parts: the test needs a multipart upload", res.Parts)
			}
			head, err := client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &bucket, Key: &key, ChecksumMode: types.ChecksumModeEnabled})
			if err != nil {
				t.Fatal(err)
			}
			stored := aws.ToString(head.ChecksumCRC32C)
			if c == upload.CRC64NVME {
				stored = aws.ToString(head.ChecksumCRC64NVME)
			}
			if want := string(c) + ":" + stored; stored == "" || res.Checksum != want {
				t.Errorf("pg2s3's checksum %q, the store's %q (type %s)", res.Checksum, want, head.ChecksumType)
			}
			if got := testenv.Get(t, client, bucket, key); !bytes.Equal(got, body) {
				t.Error("the stored bytes differ")
			}
		})
	}
}
