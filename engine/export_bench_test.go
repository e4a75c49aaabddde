package engine

import (
	"context"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/pg2s3/pg2s3/internal/testenv"
	"github.com/pg2s3/pg2s3/upload"
)

// BenchmarkExport exports the same table to io.Discard (the server's own COPY rate: the ceiling of
// one stream) and to MinIO, so that the two MB/s figures come from one run and can be divided.
//
//	make bench   (or, with a stack running: go test -run '^$' -bench Export -benchtime 3x ./export/)
func BenchmarkExport(b *testing.B) {
	bucket := testenv.Bucket(b)
	createBenchTable(b)
	client := testenv.S3(b)
	key := "bench/bench_mixed.csv"
	testenv.Remove(b, client, bucket, key)
	for _, dest := range []struct{ name, to string }{{"discard", "-"}, {"s3", "s3://" + bucket + "/" + key}} {
		b.Run(dest.name, func(b *testing.B) {
			benchmarkExport(b, benchConfig(b, dest.to))
		})
	}
}

// BenchmarkExportRatio alternates the two destinations inside each iteration, so that both see the
// same machine load, and reports each one's MB/s and their ratio (goal: s3/discard >= 0.95).
func BenchmarkExportRatio(b *testing.B) {
	bucket := testenv.Bucket(b)
	createBenchTable(b)
	key := "bench/bench_mixed_ratio.csv"
	testenv.Remove(b, testenv.S3(b), bucket, key)
	discard := benchConfig(b, "-")
	toS3 := benchConfig(b, "s3://"+bucket+"/"+key)
	var bytes int64
	var tDiscard, tS3 time.Duration
	b.ReportAllocs()
	for b.Loop() {
		for _, c := range []struct {
			cfg Config
			d   *time.Duration
		}{{discard, &tDiscard}, {toS3, &tS3}} {
			start := time.Now()
			sum, err := exportOne(context.Background(), c.cfg)
			if err != nil {
				b.Fatal(err)
			}
			*c.d += time.Since(start)
			bytes = sum.Bytes
		}
	}
	n := float64(b.N) * float64(bytes) / 1e6
	b.ReportMetric(n/tDiscard.Seconds(), "discard-MB/s")
	b.ReportMetric(n/tS3.Seconds(), "s3-MB/s")
	b.ReportMetric(tDiscard.Seconds()/tS3.Seconds(), "s3/discard")
}

// BenchmarkCompression exports the same table to MinIO uncompressed, with gzip and with zstd,
// alternating inside each iteration, and reports each one's MB/s of CSV, its ratio to the
// uncompressed export (goal for zstd: 0.85 or more), the compression ratio, and pg2s3's own CPU
// seconds per GB of CSV (getrusage of this process: the server's and MinIO's CPU are not in it).
func BenchmarkCompression(b *testing.B) {
	bucket := testenv.Bucket(b)
	createBenchTable(b)
	algos := []string{"none", "gzip", "zstd"}
	secs := map[string]time.Duration{}
	cpu := map[string]time.Duration{}
	stored := map[string]int64{}
	var csvBytes int64
	for _, a := range algos {
		testenv.Remove(b, testenv.S3(b), bucket, "bench/compression.csv"+Compression{Algorithm: a}.Extension())
	}
	b.ReportAllocs()
	for b.Loop() {
		for _, a := range algos {
			cfg := benchConfig(b, "s3://"+bucket+"/bench/compression.csv")
			cfg.Compress = Compression{Algorithm: a}
			c0, t0 := cpuTime(), time.Now()
			sum, err := exportOne(context.Background(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			secs[a] += time.Since(t0)
			cpu[a] += cpuTime() - c0
			stored[a] = sum.Bytes
			csvBytes = sum.CSVBytes
		}
	}
	gb := float64(b.N) * float64(csvBytes) / 1e9
	for _, a := range algos {
		b.ReportMetric(gb*1e3/secs[a].Seconds(), a+"-MB/s")
		b.ReportMetric(cpu[a].Seconds()/gb, a+"-cpu-s/GB")
		if a != "none" {
			b.ReportMetric(secs["none"].Seconds()/secs[a].Seconds(), a+"/none")
			b.ReportMetric(float64(csvBytes)/float64(stored[a]), a+"-ratio")
		}
	}
}

// cpuTime is this process's user+system CPU time so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func benchmarkExport(b *testing.B, cfg Config) {
	b.ReportAllocs()
	var bytes int64
	for b.Loop() {
		sum, err := exportOne(context.Background(), cfg)
		if err != nil {
			b.Fatal(err)
		}
		bytes = sum.Bytes
	}
	b.SetBytes(bytes)
}

// createBenchTable makes a 2,000,000-row table of mixed types: about 230 MB of CSV.
func createBenchTable(b *testing.B) {
	testenv.Psql(b, `CREATE TABLE IF NOT EXISTS bench_mixed AS
		SELECT g AS id, md5(g::text) AS a, md5((g * 7)::text) AS b, g * 0.25 AS n,
		       now() - g * interval '1 minute' AS ts, (g % 3 = 0) AS flag
		FROM generate_series(1, 2000000) g`)
}

// benchConfig exports bench_mixed to to with the default part size and concurrency.
func benchConfig(b *testing.B, to string) Config {
	cfg := baseConfig(b, "", to)
	cfg.Tables = []string{"bench_mixed"}
	cfg.Upload.PartSize, cfg.Upload.Concurrency = upload.DefaultPart, 4
	cfg.Stdout = io.Discard
	return cfg
}
