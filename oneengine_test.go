package main

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/pg2s3/pg2s3/internal/testenv"
)

// Behaviours that once drifted between the one-object and the many-object paths, each tried
// through both shapes of destination.

// silentServer accepts TCP connections and never answers: a PostgreSQL that hangs at startup.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns = append(conns, c) // held open, never written to
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

// Every command that connects honours --connect-timeout: a server that accepts the connection and
// never answers fails the run within the timeout plus a few seconds, not the 30 s default.
func TestConnectTimeoutEveryMode(t *testing.T) {
	bucket, _ := testenv.Stack(t)
	dsn := "postgres://u:pw@" + silentServer(t) + "/db?sslmode=disable"
	prefix := "s3://" + bucket + "/" + testenv.Key(t) + "/"
	for name, args := range map[string][]string{
		"one object":  {"export", "-c", "SELECT 1", "--to", "-"},
		"many tables": {"export", "-t", "a", "-t", "b", "--to", prefix},
		"plan":        {"plan", "-t", "a", "-t", "b", "--to", prefix},
		"snapshot":    {"snapshot"},
		"bench":       {"bench", "-c", "SELECT 1", "--runs", "1", "--approach", "copy,cursor"},
	} {
		t.Run(name, func(t *testing.T) {
			r := pg2s3(t, []string{"PG2S3_DSN=" + dsn, "PG2S3_CONNECT_TIMEOUT=2s"}, args...)
			// The default timeout is 30 s: finishing well before it shows the flag was used.
			if r.elapsed > 20*time.Second {
				t.Errorf("took %s with --connect-timeout 2s", r.elapsed)
			}
			out := r.stderr + r.stdout
			if name == "bench" {
				if r.code != 1 || strings.Count(out, "FAILED") < 2 || !strings.Contains(out, "timeout") || !strings.Contains(out, "nothing was measured") {
					t.Errorf("exit %d; want both approaches to fail on the timeout:\n%s", r.code, out)
				}
				return
			}
			if r.code != 1 || !strings.Contains(out, "timeout") {
				t.Errorf("exit %d, want 1 and a timeout error:\n%s", r.code, out)
			}
		})
	}
}

// The same bad number or size is the same usage error (exit 2, naming the flag) whatever the
// destination's shape.
func TestBadNumbersSameInEveryMode(t *testing.T) {
	modes := map[string][]string{
		"one object":  {"export", "-t", "a", "--to", "-"},
		"many tables": {"export", "-t", "a", "-t", "b", "--to", "s3://bkt/p/"},
		"plan":        {"plan", "-t", "a", "-t", "b", "--to", "s3://bkt/p/"},
	}
	bad := []struct {
		args []string
		want string
	}{
		{[]string{"--max-rows", "1e6"}, `--max-rows 1e6: "1e6" is not a whole number`},
		{[]string{"--jobs", "1e6"}, `--jobs 1e6: "1e6" is not a whole number`},
		{[]string{"--concurrency", "2.5"}, `--concurrency 2.5: "2.5" is not a whole number`},
		{[]string{"--retries", "0"}, "--retries 0: must be at least 1"},
		{[]string{"--part-size", "4MiB"}, "--part-size 4MiB: outside S3's limits"},
		{[]string{"--part-size", "1e6"}, `--part-size 1e6: "1e6" has an unknown unit`},
		{[]string{"--chunk-size", "lots"}, `--chunk-size lots: "lots" is not a size`},
		{[]string{"--memory-limit", "-1"}, `--memory-limit -1: "-1" is not a size`},
		{[]string{"--max-object-size", "5 parsecs"}, "--max-object-size 5 parsecs"},
		{[]string{"--compress", "gzip", "--compress-level", "1e6"}, `--compress-level 1e6: "1e6" is not a whole number`},
		{[]string{"--sse-kms-key-id", "k"}, "--sse-kms-key-id k: needs --sse aws:kms"},
		{[]string{"--checksum", "md5"}, "--checksum md5: unknown checksum"},
		{[]string{"--part-timeout", "-1s"}, "--part-timeout -1s: must be positive"},
	}
	for mode, base := range modes {
		for _, b := range bad {
			t.Run(mode+"/"+strings.Join(b.args, " "), func(t *testing.T) {
				r := pg2s3(t, []string{"PG2S3_DSN=postgres://u@127.0.0.1:1/db"}, append(append([]string{}, base...), b.args...)...)
				if r.code != 2 || !strings.Contains(r.stderr, b.want) {
					t.Errorf("exit %d, stderr %q; want 2 and %q", r.code, r.stderr, b.want)
				}
			})
		}
	}
}

// --help fits in 100 columns, and states each default once.
func TestHelpWithin100Columns(t *testing.T) {
	for _, cmd := range [][]string{{"--help"}, {"export", "--help"}, {"plan", "--help"}, {"bench", "--help"},
		{"cleanup", "--help"}, {"snapshot", "--help"}, {"manifest", "merge", "--help"}} {
		r := pg2s3(t, nil, cmd...)
		if r.code != 0 || r.stdout == "" {
			t.Fatalf("pg2s3 %s: exit %d, %d bytes on stdout: %s", strings.Join(cmd, " "), r.code, len(r.stdout), r.stderr)
		}
		for _, line := range strings.Split(r.stdout, "\n") {
			if len([]rune(line)) > 100 {
				t.Errorf("pg2s3 %s: a line of %d columns: %q", strings.Join(cmd, " "), len([]rune(line)), line)
			}
			if strings.Count(line, "default") > 1 {
				t.Errorf("pg2s3 %s: a default stated twice: %q", strings.Join(cmd, " "), line)
			}
		}
		if cmd[0] == "export" {
			_, opts, _ := strings.Cut(r.stdout, "OPTIONS:")
			to, query := strings.Index(opts, "--to DEST"), strings.Index(opts, "--query SQL")
			if to < 0 || query < 0 || to > query {
				t.Errorf("pg2s3 export --help: --to is not near the top:\n%s", r.stdout)
			}
		}
	}
}

// A compressed object carries its Content-Encoding whether it is one part or many, one object or
// one of many.
func TestContentEncodingEveryShape(t *testing.T) {
	bucket, client := testenv.Stack(t)
	testenv.Psql(t, `DROP TABLE IF EXISTS ce_small, ce_large;
		CREATE TABLE ce_small AS SELECT g FROM generate_series(1, 10) g;
		CREATE TABLE ce_large AS SELECT g, md5(g::text) || md5((g*3)::text) AS s FROM generate_series(1, 400000) g;`)
	prefix := testenv.Prefix(t, client, bucket)
	for _, algo := range []string{"gzip", "zstd"} {
		ext := map[string]string{"gzip": ".gz", "zstd": ".zst"}[algo]
		for _, table := range []string{"ce_small", "ce_large"} {
			one := prefix + algo + "-" + table + ".csv"
			many := prefix + algo + "-" + table + "/"
			for _, to := range []string{one, many} {
				r := pg2s3(t, nil, "export", "-t", table, "--to", "s3://"+bucket+"/"+to, "--compress", algo,
					"--part-size", "5MiB", "--json")
				if r.code != 0 {
					t.Fatalf("exit %d: %s", r.code, r.stderr)
				}
				key := one + ext
				if to == many {
					key = many + "public." + table + "/part-00000-000.csv" + ext
				}
				head, err := client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
				if err != nil {
					t.Fatalf("%s: %v", key, err)
				}
				if got := fmt.Sprint(*head.ContentEncoding); head.ContentEncoding == nil || got != algo {
					t.Errorf("%s: Content-Encoding %v, want %s", key, head.ContentEncoding, algo)
				}
				multipart := strings.Contains(*head.ETag, "-")
				if (table == "ce_large") != multipart {
					t.Errorf("%s: multipart %v (ETag %s): the test does not cover the shape it means to", key, multipart, *head.ETag)
				}
			}
		}
	}
}

// The same table gives the same bytes as one object and inside a multi-table run.
func TestSameBytesOneObjectAndMany(t *testing.T) {
	bucket, client := testenv.Stack(t)
	testenv.Psql(t, `DROP TABLE IF EXISTS same_a, same_b;
		CREATE TABLE same_a AS `+testenv.HardValues(t)+`;
		CREATE TABLE same_b AS SELECT g FROM generate_series(1, 1000) g;`)
	prefix := testenv.Prefix(t, client, bucket)
	for _, args := range [][]string{{}, {"--header"}, {"--format", "text", "--null", "NULL"}, {"--compress", "zstd"}} {
		name := strings.Join(args, " ")
		one := prefix + "one" + fmt.Sprint(len(name)) + ".csv"
		many := prefix + "many" + fmt.Sprint(len(name)) + "/"
		r1 := pg2s3(t, nil, append([]string{"export", "-t", "same_a", "--to", "s3://" + bucket + "/" + one, "--json"}, args...)...)
		r2 := pg2s3(t, nil, append([]string{"export", "-t", "same_a", "-t", "same_b", "--to", "s3://" + bucket + "/" + many, "--json"}, args...)...)
		if r1.code != 0 || r2.code != 0 {
			t.Fatalf("%s: exit %d, %d: %s %s", name, r1.code, r2.code, r1.stderr, r2.stderr)
		}
		ext := ""
		if strings.Contains(name, "zstd") {
			ext = ".zst"
		}
		a := testenv.Get(t, client, bucket, one+ext)
		b := testenv.Get(t, client, bucket, many+"public.same_a/part-00000-000.csv"+ext)
		if testenv.SHA256(a) != testenv.SHA256(b) || len(a) == 0 {
			t.Errorf("%s: one object has %d bytes (sha256 %s), the multi-table run's %d (%s)", name, len(a), testenv.SHA256(a), len(b), testenv.SHA256(b))
		}
	}
}

// Keys: distinct tables never share a key by default, and a run whose keys would collide is
// refused before any COPY (exit 2, naming both), with nothing written.
func TestKeyCollisionsRefused(t *testing.T) {
	bucket, client := testenv.Stack(t)
	testenv.Psql(t, `DROP SCHEMA IF EXISTS "a.b" CASCADE; DROP SCHEMA IF EXISTS a CASCADE; CREATE SCHEMA "a.b"; CREATE SCHEMA a;
		CREATE TABLE "a.b".c AS SELECT 1 AS x; CREATE TABLE a."b.c" AS SELECT 2 AS y;
		DROP TABLE IF EXISTS keys_small; CREATE TABLE keys_small AS SELECT 1 AS z;
		DROP TABLE IF EXISTS keys_big; CREATE TABLE keys_big AS SELECT g, md5(g::text) AS s FROM generate_series(1, 100000) g;`)
	prefix := testenv.Prefix(t, client, bucket)
	to := func(name string) string { return "s3://" + bucket + "/" + prefix + name + "/" }
	r := pg2s3(t, nil, "export", "-t", `"a.b".c`, "-t", `a."b.c"`, "--to", to("encoded"), "--json")
	if r.code != 0 {
		t.Fatalf("dotted names: exit %d: %s", r.code, r.stderr)
	}
	keys := testenv.ListKeys(t, client, bucket, prefix+"encoded/")
	for _, want := range []string{prefix + "encoded/a%2Eb.c/part-00000-000.csv", prefix + "encoded/a.b%2Ec/part-00000-000.csv"} {
		if !slices.Contains(keys, want) {
			t.Errorf("%s missing; the run wrote %v", want, keys)
		}
	}
	for _, tt := range []struct {
		name string
		args []string
		want []string
	}{
		{"no {table} for two tables", []string{"-t", "keys_big", "-t", "keys_small", "--key-template", "{schema}/part-{chunk}-{split}.csv"},
			[]string{`table "public"."keys_big" chunk 0`, `table "public"."keys_small" chunk 0`}},
		{"no {chunk} for a chunked table", []string{"-t", "keys_big", "--chunk-size", "1MiB", "--key-template", "{table}/part-{split}.csv"},
			[]string{`table "public"."keys_big" chunk 0`, `table "public"."keys_big" chunk 1`}},
		{"no {split} when objects split", []string{"-t", "keys_big", "--max-rows", "1000", "--key-template", "{table}/part-{chunk}.csv"},
			[]string{"its second, when it splits"}},
		{"manifest on a data object", []string{"-t", "keys_big", "--manifest", to("manifest") + "public.keys_big/part-00000-000.csv"},
			[]string{`table "public"."keys_big" chunk 0`, "the manifest"}},
		{"manifest among the splits", []string{"-t", "keys_big", "--max-rows", "1000", "--manifest", to("manifest") + "public.keys_big/part-00000-042.csv"},
			[]string{"one of its splits", "the manifest"}},
		{"unknown placeholder", []string{"-t", "keys_big", "--key-template", "{tabel}/{split}.csv"}, []string{"--key-template", "unknown placeholder {tabel}"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if v := testenv.ServerVersionNum(t); v < 140000 && strings.Contains(tt.name, "chunked") {
				t.Skip("before PostgreSQL 14 a table is one chunk (no TID Range Scan): no chunks to collide")
			}
			dest := to(strings.ReplaceAll(tt.name, " ", "_"))
			if strings.HasPrefix(tt.name, "manifest") {
				dest = to("manifest")
			}
			r := pg2s3(t, nil, append([]string{"export", "--to", dest}, tt.args...)...)
			if r.code != 2 {
				t.Errorf("exit %d, want 2: %s", r.code, r.stderr)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr does not name %q: %s", w, r.stderr)
				}
			}
			u := strings.TrimPrefix(dest, "s3://"+bucket+"/")
			if left := testenv.ListKeys(t, client, bucket, u); len(left) > 0 {
				t.Errorf("a refused run wrote %v", left)
			}
		})
	}
}
