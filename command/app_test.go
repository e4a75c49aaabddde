package command

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// Usage errors, in process: every one exits 2 and says what is wrong on stderr, before any
// network call.
func TestUsageErrorsExit2(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown flag", []string{"export", "--bogus"}, "flag provided but not defined: -bogus"},
		{"unknown command", []string{"exprt"}, `unknown command "exprt"`},
		{"no command", nil, "no command given"},
		{"no source", []string{"export", "--to", "-"}, "give --query or --table"},
		{"both sources", []string{"export", "-c", "SELECT 1", "-t", "t", "--to", "-"}, "not both"},
		{"no destination", []string{"export", "-c", "SELECT 1"}, "--to is required"},
		{"empty query", []string{"export", "-c", " ; ", "--to", "-"}, "--query: the query is empty"},
		{"two statements", []string{"export", "-c", "SELECT 1; DELETE FROM t", "--to", "-"}, "more than one statement"},
		{"part size too small", []string{"export", "-c", "SELECT 1", "--to", "-", "--part-size", "4MiB"}, "outside S3's limits"},
		{"part size too large", []string{"export", "-c", "SELECT 1", "--to", "-", "--part-size", "6GiB"}, "outside S3's limits"},
		{"part size not a size", []string{"export", "-c", "SELECT 1", "--to", "-", "--part-size", "lots"}, `"lots" is not a size`},
		{"concurrency 0", []string{"export", "-c", "SELECT 1", "--to", "-", "--concurrency", "0"}, "at least 1"},
		{"bad checksum", []string{"export", "-c", "SELECT 1", "--to", "-", "--checksum", "md5"}, "unknown checksum"},
		{"key ends in slash", []string{"export", "-c", "SELECT 1", "--to", "s3://bkt/prefix/"}, "--to s3://bkt/prefix/: a query exports one result to one object"},
		{"key ends in slash, one table", []string{"export", "-t", "t", "--to", "s3://bkt/prefix/", "--memory-limit", "1KiB"}, "--memory-limit"},
		{"no key", []string{"export", "-c", "SELECT 1", "--to", "s3://bkt"}, "give s3://bucket/key"},
		{"unknown scheme", []string{"export", "-c", "SELECT 1", "--to", "gs://bkt/k"}, "want s3://bucket/key"},
		{"tag S3 would refuse", []string{"export", "-c", "SELECT 1", "--to", "-", "--tag", "team=data & co"}, "S3 allows only letters"},
		{"metadata without =", []string{"export", "-c", "SELECT 1", "--to", "-", "--metadata", "novalue"}, "want KEY=VALUE"},
		{"sse unknown", []string{"export", "-c", "SELECT 1", "--to", "-", "--sse", "rot13"}, "want AES256, aws:kms"},
		{"kms key without kms", []string{"export", "-c", "SELECT 1", "--to", "-", "--sse-kms-key-id", "k"}, "needs --sse aws:kms"},
		{"cleanup without URL", []string{"cleanup"}, "give one s3://bucket"},
		{"cleanup bad URL", []string{"cleanup", "gs://x"}, "is not an s3:// URL"},
		{"bench unknown approach", []string{"bench", "-c", "SELECT 1", "--approach", "copy,odbc"}, `unknown approach "odbc"`},
		{"bench prefix without slash", []string{"bench", "-c", "SELECT 1", "--to", "s3://bkt/prefix"}, "ending in /"},
		{"bench no source", []string{"bench"}, "give --query or --table"},
		{"unknown compression", []string{"export", "-c", "SELECT 1", "--to", "-", "--compress", "lz4"}, "want none, gzip or zstd"},
		{"gzip level too high", []string{"export", "-c", "SELECT 1", "--to", "-", "--compress", "gzip", "--compress-level", "12"}, "gzip levels are 1 to 9"},
		{"level without compression", []string{"export", "-c", "SELECT 1", "--to", "-", "--compress-level", "3"}, "--compress-level 3: a level needs gzip or zstd"},
		{"unknown format", []string{"export", "-c", "SELECT 1", "--to", "-", "--format", "xml"}, "want csv, text or parquet"},
		{"long delimiter", []string{"export", "-c", "SELECT 1", "--to", "-", "--delimiter", "||"}, "single one-byte character"},
		{"unknown preset", []string{"export", "-c", "SELECT 1", "--to", "-", "--preset", "oracle"}, "want one of athena, bigquery, clickhouse"},
		{"load sql without preset", []string{"export", "-c", "SELECT 1", "--to", "-", "--print-load-sql"}, "needs --preset"},
		{"shard without snapshot", []string{"export", "-t", "a", "-t", "b", "--to", "s3://bkt/p/", "--shard", "1/3"}, "--shard: needs --snapshot"},
		{"bad shard", []string{"export", "-t", "a", "-t", "b", "--to", "s3://bkt/p/", "--shard", "3/3", "--snapshot", "x"}, "want i/N"},
		{"several tables to a key", []string{"export", "-t", "a", "-t", "b", "--to", "s3://bkt/k.csv"}, "for several tables, give a prefix"},
		{"schema to a key", []string{"export", "--schema", "app", "--to", "s3://bkt/k.csv"}, "give a prefix"},
		{"split without prefix", []string{"export", "-t", "a", "--to", "s3://bkt/k.csv", "--max-rows", "10"}, "give a prefix destination"},
		{"query to a prefix", []string{"export", "-c", "SELECT 1", "--to", "s3://bkt/p/"}, "a query exports one result"},
		{"memory limit too small", []string{"export", "-t", "a", "-t", "b", "--to", "s3://bkt/p/", "--memory-limit", "20MiB"}, "--memory-limit"},
		{"-v before the command", []string{"-v", "export", "-c", "SELECT 1", "--to", "-"}, "flag provided but not defined: -v"},
		{"stray argument", []string{"export", "-c", "SELECT 1", "--to", "-", "extra"}, `unexpected argument "extra"`},
		{"unknown table format", []string{"export", "-t", "a", "--to", "s3://bkt/p/", "--table-format", "hudi"}, "--table-format hudi: want iceberg"},
		{"iceberg as csv", []string{"export", "-t", "a", "--to", "s3://bkt/p/", "--table-format", "iceberg", "--format", "csv"}, "written as Parquet files, not CSV"},
		{"iceberg to a key", []string{"export", "-t", "a", "--to", "s3://bkt/k", "--table-format", "iceberg"}, "an Iceberg table is a folder of a prefix"},
		{"iceberg of a query", []string{"export", "-c", "SELECT 1", "--to", "s3://bkt/p/", "--table-format", "iceberg"}, "a query exports one result"},
		{"iceberg with a template", []string{"export", "-t", "a", "--to", "s3://bkt/p/", "--table-format", "iceberg", "--key-template", "{table}.parquet"}, "leave --key-template unset"},
		{"iceberg partitioned by an expression", []string{"export", "-t", "a", "--to", "s3://bkt/p/", "--table-format", "iceberg", "--partition-by", "d=date_trunc('day', at)"}, "give COLUMN or day(COLUMN)"},
		{"iceberg without partition columns", []string{"export", "-t", "a", "--to", "s3://bkt/p/", "--table-format", "iceberg", "--partition-by", "k", "--partition-drop-columns"}, "keeps the partition columns in the files"},
		{"trino without iceberg", []string{"export", "-t", "a", "--to", "s3://bkt/p/", "--format", "parquet", "--preset", "trino"}, "--preset trino: reads pg2s3's output as Iceberg tables only: give --table-format iceberg"},
		{"load sql of iceberg", []string{"export", "-t", "a", "--to", "s3://bkt/p/", "--table-format", "iceberg", "--preset", "duckdb", "--print-load-sql"}, "it is printed after the run"},
		{"lookback without incremental", []string{"export", "-t", "a", "--to", "s3://bkt/p/", "--incremental-lookback", "1h"}, "--incremental-lookback 1h0m0s: is for incremental runs (--incremental)"},
		{"negative lookback", []string{"export", "-t", "a", "--to", "s3://bkt/p/", "--incremental", "at", "--incremental-lookback", "-5m"}, "--incremental-lookback -5m0s: must not be negative"},
		{"iceberg with clean-path", []string{"export", "-t", "a", "--to", "s3://bkt/p/", "--table-format", "iceberg", "--clean-path"}, "is not written yet with clean-path"},
		{"namespace without table format", []string{"export", "-t", "a", "--to", "s3://bkt/p/", "--iceberg-namespace", "lake"}, "--iceberg-namespace lake: is the namespace of a table format's tables"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := Run(context.Background(), append([]string{"pg2s3"}, tt.args...), &stdout, &stderr)
			if code != 2 {
				t.Errorf("exit status %d, want 2\nstderr: %s", code, stderr.String())
			}
			if !strings.Contains(stderr.String(), tt.want) {
				t.Errorf("stderr does not mention %q:\n%s", tt.want, stderr.String())
			}
			if tt.name != "no command" && stdout.Len() != 0 {
				t.Errorf("stdout is not empty: %q", stdout.String())
			}
		})
	}
}
