package export

import (
	"context"
	"io"
	"os"
	"strconv"
	"testing"

	"github.com/pg2s3/pg2s3/upload"
)

// BenchmarkExport exports the same table to io.Discard (the server's own COPY rate: the ceiling of
// one stream) and to MinIO, so that the two MB/s figures come from one run and can be divided.
//
//	make bench   (or, with a stack running: go test -run '^$' -bench Export -benchtime 3x ./export/)
func BenchmarkExport(b *testing.B) {
	bucket := testBucket(b)
	psql(b, `CREATE TABLE IF NOT EXISTS bench_mixed AS
		SELECT g AS id, md5(g::text) AS a, md5((g * 7)::text) AS b, g * 0.25 AS n,
		       now() - g * interval '1 minute' AS ts, (g % 3 = 0) AS flag
		FROM generate_series(1, 2000000) g`)
	client := testS3(b)
	key := "bench/bench_mixed.csv"
	removeObject(b, client, bucket, key)
	for _, dest := range []struct{ name, to string }{{"discard", "-"}, {"s3", "s3://" + bucket + "/" + key}} {
		b.Run(dest.name, func(b *testing.B) {
			cfg := baseConfig(b, "", dest.to)
			cfg.Table, cfg.Query = "bench_mixed", ""
			cfg.PartSize, cfg.Concurrency = upload.DefaultPart, 4
			cfg.Stdout = io.Discard
			if ps := os.Getenv("PG2S3_BENCH_PART_SIZE"); ps != "" {
				cfg.PartSize = int64(mustAtoi(b, ps))
			}
			benchmarkExport(b, cfg)
		})
	}
}

func benchmarkExport(b *testing.B, cfg Config) {
	b.ReportAllocs()
	var bytes int64
	for b.Loop() {
		sum, err := Run(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		bytes = sum.Bytes
	}
	b.SetBytes(bytes)
}

func mustAtoi(b *testing.B, s string) int {
	n, err := strconv.Atoi(s)
	if err != nil {
		b.Fatal(err)
	}
	return n
}
