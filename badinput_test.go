package main

import (
	"fmt"
	"strings"
	"testing"
)

// badInput is one wrong invocation: it must exit 2 before any network call, with a message that
// names the flag (or argument) and the value, and print nothing on stdout.
type badInput struct {
	args []string
	env  []string
	want []string
}

func badInputs() map[string]badInput {
	q := []string{"export", "-c", "SELECT 1", "--to", "-"}
	many := []string{"export", "-t", "a", "-t", "b", "--to", "s3://bucket/p/"}
	with := func(base []string, extra ...string) []string { return append(append([]string{}, base...), extra...) }
	in := map[string]badInput{}
	add := func(name string, args []string, want ...string) { in[name] = badInput{args: args, want: want} }
	addEnv := func(name string, env []string, args []string, want ...string) {
		in[name] = badInput{args: args, env: env, want: want}
	}
	// DSNs
	for i, dsn := range []string{"postgres://u:pw@h:notaport/db", "host=x port=abc", "postgres://u@[::1/db",
		"host=x sslmode=bogus", "postgres://u@h/db?sslmode=nope", "host=x connect_timeout=abc", "host='unterminated"} {
		add(fmt.Sprintf("dsn %d", i), with(q, "--dsn", dsn), "--dsn", "invalid connection string")
	}
	add("dsn in snapshot", []string{"snapshot", "--dsn", "host=x port=abc"}, "--dsn")
	add("dsn in bench", []string{"bench", "-c", "SELECT 1", "--dsn", "host=x port=abc"}, "--dsn")
	// Names
	add("empty table", []string{"export", "-t", "", "--to", "-"}, "--table")
	add("empty schema", []string{"export", "--schema", " ", "--to", "s3://bucket/p/"}, "--schema")
	add("bad exclude glob", with(many, "--exclude-table", "[a"), "--exclude-table [a", "glob")
	// Queries
	for name, query := range map[string]string{"empty": " ; ", "two statements": "SELECT 1; DELETE FROM t",
		"unterminated string": "SELECT 'x", "unclosed paren": "SELECT (1", "unmatched paren": "SELECT 1)",
		"unterminated comment": "SELECT /* x", "unterminated dollar": "SELECT $a$ x", "only a comment": "-- x"} {
		add("query "+name, []string{"export", "-c", query, "--to", "-"}, "--query")
	}
	// Destinations
	for name, to := range map[string]string{"gs": "gs://b/k", "no bucket": "s3://", "short bucket": "s3://ab/k",
		"bucket leading hyphen": "s3://-bad/k", "bucket trailing hyphen": "s3://bad-/k", "bucket two dots": "s3://a..b/k",
		"bucket ip": "s3://192.168.1.1/k", "bucket space": "s3://b b/k", "bucket too long": "s3://" + strings.Repeat("b", 64) + "/k",
		"key too long": "s3://bucket/" + strings.Repeat("k", 1025), "file scheme": "file:///tmp/x", "directory": "/tmp",
		"missing folder": "/nonexistent-pg2s3/x.csv", "bucket root for a query": "s3://bucket", "prefix for a query": "s3://bucket/p/"} {
		add("to "+name, []string{"export", "-c", "SELECT 1", "--to", to}, "--to")
	}
	add("several tables to a key", []string{"export", "-t", "a", "-t", "b", "--to", "s3://bucket/k.csv"}, "--to s3://bucket/k.csv", "give a prefix")
	add("schema to stdout", []string{"export", "--schema", "app", "--to", "-"}, "--to -", "give a prefix")
	add("split to one object", with(q, "--max-rows", "10"), "--max-rows", "prefix")
	// Sizes
	for flag, vals := range map[string][]string{"part-size": {"4MiB", "6GiB", "lots", "1e6", "-1", "5 parsecs"},
		"chunk-size": {"x", "1e3", "-5"}, "max-object-size": {"big", "10 furlongs"}, "memory-limit": {"many"}} {
		for _, v := range vals {
			add("size --"+flag+" "+v, with(many, "--"+flag, v), "--"+flag+" "+v)
		}
	}
	add("memory limit too small", with(many, "--memory-limit", "1KiB"), "--memory-limit 1024", "too small")
	// Numbers
	for flag, vals := range map[string][]string{"jobs": {"0", "-1", "1.5", "1e6", "x"}, "concurrency": {"0", "2.5", "four"},
		"retries": {"0", "x"}, "max-rows": {"-1", "1e6", "x"}} {
		for _, v := range vals {
			add("number --"+flag+" "+v, with(many, "--"+flag, v), "--"+flag+" "+v)
		}
	}
	add("gzip level 10", with(q, "--compress", "gzip", "--compress-level", "10"), "--compress-level 10")
	add("zstd level 23", with(q, "--compress", "zstd", "--compress-level", "23"), "--compress-level 23")
	add("level 0", with(q, "--compress", "zstd", "--compress-level", "0"), "--compress-level 0")
	add("level x", with(q, "--compress", "zstd", "--compress-level", "x"), "--compress-level x")
	add("level without compression", with(q, "--compress-level", "3"), "--compress-level 3")
	add("bench runs 0", []string{"bench", "-c", "SELECT 1", "--runs", "0"}, "--runs 0")
	add("bench batch x", []string{"bench", "-c", "SELECT 1", "--batch", "x"}, "--batch x")
	add("bench part size", []string{"bench", "-c", "SELECT 1", "--part-size", "1MiB"}, "--part-size 1MiB")
	// Enums
	for flag, v := range map[string]string{"checksum": "md5", "compress": "lz4", "format": "xml", "sse": "rot13",
		"storage-class": "COLD", "preset": "oracle"} {
		add("enum --"+flag, with(q, "--"+flag, v), "--"+flag+" "+v)
	}
	add("enum approach", []string{"bench", "-c", "SELECT 1", "--approach", "copy,odbc"}, "--approach", "odbc")
	add("kms without sse", with(q, "--sse-kms-key-id", "k"), "--sse-kms-key-id k")
	add("kms with AES256", with(q, "--sse", "AES256", "--sse-kms-key-id", "k"), "--sse-kms-key-id k")
	// CSV options
	for flag, v := range map[string]string{"delimiter": "||", "quote": "ab", "escape": "xy"} {
		add("csv --"+flag, with(q, "--"+flag, v), "--"+flag+" "+v)
	}
	add("csv empty force-quote", with(q, "--force-quote", ""), "--force-quote")
	// Parquet
	pq := with(q, "--format", "parquet")
	for flag, v := range map[string]string{"row-group-size": "0", "parquet-infinity": "clamp", "compress": "lz4", "compress-level": "3",
		"delimiter": ";", "null": "NA", "encoding": "LATIN1", "preset": "postgres"} {
		add("parquet --"+flag, with(pq, "--"+flag, v), "--"+flag)
	}
	add("parquet --header", append(pq, "--header"), "--header")
	add("parquet by extension, with a CSV option", []string{"export", "-c", "SELECT 1", "--to", "s3://bucket/k.parquet", "--quote", "'"}, "--quote")
	add("parquet option without parquet", with(q, "--row-group-size", "1MiB"), "--row-group-size", "--format parquet")
	add("load sql without preset", with(q, "--print-load-sql"), "--print-load-sql needs --preset")
	add("athena with csv", with(many, "--preset", "athena"), "--preset athena", "--format parquet")
	add("athena to one object", []string{"export", "-c", "SELECT 1", "--to", "s3://bucket/k.parquet", "--preset", "athena"}, "--preset athena needs --to s3://bucket/prefix/")
	// Templates
	for i, tpl := range []string{"{tabel}/{split}.csv", "/abs/{table}-{chunk}-{split}", "{split:5}/{table}", "{}/{table}"} {
		add(fmt.Sprintf("template %d", i), with(many, "--key-template", tpl), "--key-template "+tpl)
	}
	add("manifest not s3", with(many, "--manifest", "/tmp/m.json"), "--manifest /tmp/m.json")
	add("manifest a prefix", with(many, "--manifest", "s3://bucket/m/"), "--manifest s3://bucket/m/")
	add("manifest for one object", with(q, "--manifest", "s3://bucket/m.json"), "--manifest")
	// Metadata and tags
	for i, m := range []string{"novalue", "=v", "clé=v", "k=vé", "a b=v", "k:x=v"} {
		add(fmt.Sprintf("metadata %d", i), with(q, "--metadata", m), "--metadata")
	}
	add("metadata twice", with(q, "--metadata", "k=1", "--metadata", "k=2"), "--metadata", `"k" given twice`)
	tags := with(q)
	for i := 0; i < 11; i++ {
		tags = append(tags, "--tag", fmt.Sprintf("k%d=v", i))
	}
	add("eleven tags", tags, "--tag", "at most 10")
	add("tag with &", with(q, "--tag", "team=data & co"), "--tag")
	add("tag key too long", with(q, "--tag", strings.Repeat("k", 129)+"=v"), "--tag")
	add("tag value too long", with(q, "--tag", "k="+strings.Repeat("v", 257)), "--tag")
	add("tag without key", with(q, "--tag", "=v"), "--tag")
	// Snapshots and shards
	for i, snap := range []string{"nope", "1-2", "abc-def-ghi", "00000003-0000001B-1; DROP TABLE t"} {
		add(fmt.Sprintf("snapshot %d", i), with(many, "--snapshot", snap), "--snapshot "+snap)
	}
	for i, sh := range []string{"3/3", "-1/3", "x", "1/0"} {
		add(fmt.Sprintf("shard %d", i), with(many, "--snapshot", "00000003-0000001B-1", "--shard", sh), "--shard "+sh)
	}
	add("shard without snapshot", with(many, "--shard", "1/3"), "--shard: needs --snapshot")
	add("snapshot from stdout", with(many, "--snapshot-from", "-"), "--snapshot-from -")
	add("snapshot from a prefix", with(many, "--snapshot-from", "s3://bucket/ids/"), "--snapshot-from s3://bucket/ids/")
	add("snapshot from gs", with(many, "--snapshot-from", "gs://bucket/id"), "--snapshot-from gs://bucket/id")
	add("snapshot and snapshot from", with(many, "--snapshot", "00000003-0000001B-1", "--snapshot-from", "/tmp/id"), "--snapshot or --snapshot-from, not both")
	add("snapshot id to a prefix", []string{"snapshot", "--id-to", "s3://bucket/ids/"}, "--id-to s3://bucket/ids/")
	add("snapshot id to stdout", []string{"snapshot", "--id-to", "-"}, "--id-to -")
	add("snapshot id to a missing folder", []string{"snapshot", "--id-to", "/nonexistent-pg2s3/id"}, "--id-to /nonexistent-pg2s3/id")
	add("shard to one object", []string{"export", "-t", "a", "--to", "s3://bucket/k.csv", "--snapshot", "00000003-0000001B-1", "--shard", "0/2"}, "--shard")
	// Durations
	add("part timeout 0", with(q, "--part-timeout", "0s"), "--part-timeout 0s")
	add("part timeout negative", with(q, "--part-timeout", "-1s"), "--part-timeout -1s")
	add("part timeout word", with(q, "--part-timeout", "soon"), "soon", "part-timeout")
	add("connect timeout negative", with(q, "--connect-timeout", "-1s"), "--connect-timeout -1s")
	add("lock wait timeout negative", with(q, "--lock-wait-timeout", "-5s"), "--lock-wait-timeout -5s")
	add("cleanup older than negative", []string{"cleanup", "s3://bucket/p", "--older-than", "-1h"}, "--older-than -1h")
	add("cleanup older than a word", []string{"cleanup", "s3://bucket/p", "--older-than", "yesterday"}, "--older-than yesterday: not a duration such as")
	add("bool flag value", with(q, "--header=maybe"), "--header maybe: not true or false")
	add("template dot-dot", with(many, "--key-template", "{schema}/../{table}.csv"), "--key-template {schema}/../{table}.csv", `".."`)
	add("template dot", with(many, "--key-template", "./{table}.csv"), "--key-template ./{table}.csv", `".."`)
	add("to dot-dot", []string{"export", "-t", "a", "--to", "s3://bucket/a/../b/"}, "--to", `".."`)
	// Environment values
	for name, kv := range map[string][2]string{"jobs": {"PG2S3_JOBS=x", "--jobs x"}, "part size": {"PG2S3_PART_SIZE=1e6", "--part-size 1e6"},
		"compress": {"PG2S3_COMPRESS=lz4", "--compress lz4"}, "to": {"PG2S3_TO=gs://x/y", "--to"}, "checksum": {"PG2S3_CHECKSUM=md5", "--checksum md5"},
		"max rows": {"PG2S3_MAX_ROWS=1e6", "--max-rows 1e6"}, "memory": {"PG2S3_MEMORY_LIMIT=lots", "--memory-limit lots"}} {
		args := many
		if name == "to" {
			args = []string{"export", "-c", "SELECT 1"}
		}
		addEnv("env "+name, []string{kv[0]}, args, kv[1])
	}
	// S3 client settings, checked without a connection
	add("endpoint ftp", with(q, "--endpoint-url", "ftp://x"), "--endpoint-url ftp://x")
	add("profile missing", with(q, "--profile", "pg2s3-no-such-profile"), "--profile pg2s3-no-such-profile", "no such profile")
	add("ca bundle missing", with(q, "--ca-bundle", "/nonexistent/ca.pem"), "--ca-bundle /nonexistent/ca.pem")
	add("ca bundle not PEM", with(q, "--ca-bundle", "/etc/hostname"), "--ca-bundle /etc/hostname", "no PEM certificate")
	add("ca bundle in cleanup", []string{"cleanup", "s3://bucket/p", "--ca-bundle", "/etc/hostname"}, "--ca-bundle /etc/hostname")
	addEnv("env profile", []string{"AWS_PROFILE=pg2s3-no-such-profile"}, q, "--profile pg2s3-no-such-profile")
	// Incremental runs
	add("incremental empty", with(many, "--incremental", ""), "--incremental", "COLUMN or TABLE=COLUMN")
	add("incremental no table", with(many, "--incremental", "=updated_at"), "--incremental =updated_at")
	add("incremental query", with(q, "--incremental", "updated_at"), "--incremental", "is for tables")
	add("incremental one object", []string{"export", "-t", "a", "--to", "s3://bucket/a.csv", "--incremental", "updated_at"}, "--incremental", "prefix destination")
	add("incremental shard", with(many, "--incremental", "updated_at", "--snapshot", "00000003-0000001B-1", "--shard", "0/2"), "--incremental", "sharded")
	add("incremental overwrite", with(many, "--incremental", "updated_at", "--overwrite"), "--incremental", "--overwrite")
	add("incremental two defaults", with(many, "--incremental", "a", "--incremental", "b"), "--incremental", "one COLUMN for all tables")
	// Resumable runs
	add("resume one object", []string{"export", "-t", "a", "--to", "s3://bucket/a.csv", "--resume", "--snapshot", "00000003-0000001B-1"}, "--resume", "prefix destinations")
	add("resume without a held snapshot", with(many, "--resume"), "--resume", "pg2s3 snapshot")
	add("resume new snapshot alone", with(many, "--resume-new-snapshot"), "--resume-new-snapshot", "goes with --resume")
	add("resume incremental", with(many, "--resume", "--resume-new-snapshot", "--incremental", "updated_at"), "--resume", "--incremental")
	add("resume overwrite", with(many, "--resume", "--snapshot", "00000003-0000001B-1", "--overwrite"), "--resume", "--overwrite")
	add("runs without a prefix", []string{"runs", "s3://bucket/key.csv"}, `"s3://bucket/key.csv"`, "prefix")
	add("runs since x", []string{"runs", "s3://bucket/p/", "--since", "x"}, "--since x")
	// Metrics
	add("metrics file not .prom", with(q, "--metrics-file", "/tmp/m.txt"), "--metrics-file /tmp/m.txt", ".prom")
	add("metrics file missing folder", with(q, "--metrics-file", "/nonexistent-pg2s3/m.prom"), "--metrics-file /nonexistent-pg2s3/m.prom")
	add("pushgateway not a URL", with(q, "--pushgateway", "localhost:9091"), "--pushgateway localhost:9091", "http(s)://")
	add("metrics label bad name", with(q, "--metrics-file", "/tmp/m.prom", "--metrics-label", "1x=a"), "--metrics-label", `"1x"`)
	add("metrics label table", with(q, "--metrics-file", "/tmp/m.prom", "--metrics-label", "table=a"), "--metrics-label", "sets itself")
	add("metrics label alone", with(q, "--metrics-label", "env=prod"), "--metrics-label", "need --metrics-file or --pushgateway")
	add("metrics in plan", []string{"plan", "-t", "a", "--to", "s3://bucket/p/", "--pushgateway", "x"}, "--pushgateway x")
	// Other commands
	add("cleanup without URL", []string{"cleanup"}, "give one s3://bucket")
	add("cleanup two URLs", []string{"cleanup", "s3://bucket/a", "s3://bucket/b"}, "got 2 arguments")
	add("cleanup gs", []string{"cleanup", "gs://x"}, `"gs://x"`)
	add("cleanup bad bucket", []string{"cleanup", "s3://a..b/p"}, `"s3://a..b/p"`)
	add("merge bad --to", []string{"manifest", "merge", "s3://bucket/m-0.json", "--to", "s3://bucket/"}, "--to")
	add("merge bad manifest", []string{"manifest", "merge", "gs://x/m.json", "--to", "s3://bucket/m.json"}, "gs://x/m.json")
	add("-v before the command", with([]string{"-v"}, q...), "-v")
	add("unknown flag", with(q, "--bogus"), "-bogus")
	add("stray argument", with(q, "extra"), `"extra"`)
	return in
}

func TestBadInputsRefusedBeforeTheNetwork(t *testing.T) {
	cases := badInputs()
	if len(cases) < 100 {
		t.Fatalf("only %d bad inputs", len(cases))
	}
	// A closed local port: any connection attempt would fail with exit 1, not 2.
	env := []string{"PG2S3_DSN=postgres://u:pw@127.0.0.1:1/db", "AWS_ENDPOINT_URL=http://127.0.0.1:1"}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			r := pg2s3(t, append(append([]string{}, env...), c.env...), c.args...)
			if r.code != 2 {
				t.Errorf("exit %d, want 2\nstderr: %s", r.code, r.stderr)
			}
			for _, w := range c.want {
				if !strings.Contains(r.stderr, w) {
					t.Errorf("stderr does not name %q:\n%s", w, r.stderr)
				}
			}
			if r.stdout != "" {
				t.Errorf("stdout: %q", r.stdout)
			}
		})
	}
	t.Logf("%d bad inputs, each refused with exit 2 before any network call", len(cases))
}
