package engine

import (
	"context"
	"io"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/pg2s3/pg2s3/copyout"
	"github.com/pg2s3/pg2s3/internal/testenv"
	"github.com/pg2s3/pg2s3/upload"
)

// BenchmarkJobs exports one large table with --jobs 1, 2 and 4 (in ctid chunks of 32 MiB) to MinIO,
// beside the single-stream ceiling (one COPY to io.Discard), alternating inside each iteration, and
// reports each one's MB/s and its ratio to the ceiling.
//
//	make bench   (or: go test -run '^$' -bench Jobs -benchtime 3x ./engine/)
func BenchmarkJobs(b *testing.B) {
	if os.Getenv("PG2S3_TEST_DSN") == "" || os.Getenv("PG2S3_TEST_BUCKET") == "" {
		b.Skip("PG2S3_TEST_DSN or PG2S3_TEST_BUCKET is not set: run the benchmark with `make bench`")
	}
	testenv.Psql(b, `CREATE TABLE IF NOT EXISTS bench_jobs AS
		SELECT g AS id, md5(g::text) AS a, md5((g * 7)::text) AS b, g * 0.25 AS n,
		       now() - g * interval '1 minute' AS ts, (g % 3 = 0) AS flag
		FROM generate_series(1, 2000000) g`)
	client, err := upload.NewClient(context.Background(), upload.ClientConfig{Endpoint: os.Getenv("PG2S3_TEST_S3_ENDPOINT")})
	if err != nil {
		b.Fatal(err)
	}
	bucket := os.Getenv("PG2S3_TEST_BUCKET")
	jobs := []int{1, 2, 4}
	took := map[int]time.Duration{}
	var ceiling time.Duration
	var csv int64
	for b.Loop() {
		t0 := time.Now()
		sum, err := exportOne(context.Background(), Config{Conn: copyout.Conn{DSN: os.Getenv("PG2S3_TEST_DSN")}, Tables: []string{"bench_jobs"},
			To: dest(b, "-"), Stdout: io.Discard})
		if err != nil {
			b.Fatal(err)
		}
		ceiling += time.Since(t0)
		csv = sum.CSVBytes
		for _, j := range jobs {
			cfg := Config{Conn: copyout.Conn{DSN: os.Getenv("PG2S3_TEST_DSN")}, Tables: []string{"bench_jobs"},
				To: dest(b, "s3://"+bucket+"/bench/jobs-"+strconv.Itoa(j)+"/"), S3Client: client, Jobs: j, ChunkSize: 32 << 20,
				MemoryLimit: 512 << 20, Upload: upload.Options{PartSize: upload.DefaultPart, Concurrency: 4, Checksum: upload.CRC32C}}
			t0 := time.Now()
			if _, err := Run(context.Background(), cfg); err != nil {
				b.Fatal(err)
			}
			took[j] += time.Since(t0)
		}
	}
	mb := float64(b.N) * float64(csv) / 1e6
	b.ReportMetric(mb/ceiling.Seconds(), "discard-1-stream-MB/s")
	for _, j := range jobs {
		b.ReportMetric(mb/took[j].Seconds(), "jobs"+strconv.Itoa(j)+"-MB/s")
		b.ReportMetric(ceiling.Seconds()/took[j].Seconds(), "jobs"+strconv.Itoa(j)+"/discard")
	}
}
