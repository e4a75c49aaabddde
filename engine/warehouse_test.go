package engine

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/pg2s3/pg2s3/copyout"
	"github.com/pg2s3/pg2s3/internal/testenv"
)

// Compressed exports decompress to exactly psql's COPY output, on every destination, and the S3
// object says how it is encoded.
func TestExportCompressed(t *testing.T) {
	bucket := testenv.Bucket(t)
	client := testenv.S3(t)
	query := "SELECT g, md5(g::text), repeat('x', g % 100) FROM generate_series(1, 400000) g" // ~ 40 MB: several parts
	want := testenv.Psql(t, "COPY ("+query+") TO STDOUT WITH (FORMAT csv)")
	dir := t.TempDir()
	for _, algo := range []string{"gzip", "zstd"} {
		for _, level := range []int{0, 1} {
			t.Run(algo+"/level"+itoa(level), func(t *testing.T) {
				key := testenv.Key(t)
				testenv.Remove(t, client, bucket, key+map[string]string{"gzip": ".gz", "zstd": ".zst"}[algo])
				var stdout bytes.Buffer
				for _, to := range []string{"s3://" + bucket + "/" + key, "-", filepath.Join(dir, algo+itoa(level)+".csv")} {
					cfg := baseConfig(t, query, to)
					cfg.Compress = Compression{Algorithm: algo, Level: level}
					cfg.Stdout = &stdout
					sum, err := exportOne(context.Background(), cfg)
					if err != nil {
						t.Fatal(err)
					}
					ext := cfg.Compress.Extension()
					var got []byte
					switch {
					case to == "-":
						got = stdout.Bytes()
					case strings.HasPrefix(to, "s3://"):
						if sum.Destination != to+ext {
							t.Errorf("destination %s, want %s", sum.Destination, to+ext)
						}
						got = testenv.Get(t, client, bucket, key+ext)
						head, err := client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &bucket, Key: aws.String(key + ext)})
						if err != nil {
							t.Fatal(err)
						}
						if aws.ToString(head.ContentEncoding) != algo || aws.ToString(head.ContentType) != "text/csv" {
							t.Errorf("Content-Encoding %q, Content-Type %q", aws.ToString(head.ContentEncoding), aws.ToString(head.ContentType))
						}
					default:
						if got, err = os.ReadFile(to + ext); err != nil {
							t.Fatal(err)
						}
					}
					if int64(len(got)) != sum.Bytes || sum.CSVBytes != int64(len(want)) || sum.Ratio < 1.5 {
						t.Errorf("%s: summary bytes %d csv_bytes %d ratio %.2f; stored %d, CSV %d", to, sum.Bytes, sum.CSVBytes, sum.Ratio, len(got), len(want))
					}
					if plain := testenv.Decompress(t, algo, got); testenv.SHA256(plain) != testenv.SHA256(want) {
						t.Errorf("%s: decompressed output differs from psql's COPY (%d vs %d bytes)", to, len(plain), len(want))
					}
				}
			})
		}
	}
}

// A failed compressed export leaves nothing, like an uncompressed one.
func TestExportCompressedErrorMidStream(t *testing.T) {
	bucket := testenv.Bucket(t)
	client := testenv.S3(t)
	key := testenv.Key(t)
	cfg := baseConfig(t, "SELECT g, md5(g::text), random(), 1/(g-1500000) FROM generate_series(1,2000000) g", "s3://"+bucket+"/"+key)
	cfg.Compress = Compression{Algorithm: "zstd"}
	_, err := exportOne(context.Background(), cfg)
	mustErr(t, err, "division by zero")
	testenv.AssertNothingLeft(t, client, bucket, key+".zst")
}

// The same table gives the same bytes under a role whose defaults differ from the server's.
func TestExportIndependentOfRoleSettings(t *testing.T) {
	testenv.Psql(t, `DROP ROLE IF EXISTS pg2s3_odd; CREATE ROLE pg2s3_odd LOGIN PASSWORD 'odd-pw';
		ALTER ROLE pg2s3_odd SET DateStyle = 'SQL, DMY'; ALTER ROLE pg2s3_odd SET TimeZone = 'Asia/Kolkata';
		ALTER ROLE pg2s3_odd SET IntervalStyle = 'sql_standard'; ALTER ROLE pg2s3_odd SET extra_float_digits = -3;
		ALTER ROLE pg2s3_odd SET bytea_output = 'escape';`)
	odd := testenv.AsRole(t, "pg2s3_odd", "odd-pw")
	export := func(dsn string, s copyout.Session) []byte {
		var out bytes.Buffer
		cfg := baseConfig(t, testenv.HardValues(t), "-")
		cfg.Conn.DSN, cfg.Stdout, cfg.Conn.Session = dsn, &out, s
		if _, err := exportOne(context.Background(), cfg); err != nil {
			t.Fatal(err)
		}
		return out.Bytes()
	}
	mine, theirs := export(testenv.DSN(t), copyout.Session{}), export(odd, copyout.Session{})
	if !bytes.Equal(mine, theirs) {
		t.Errorf("the role's settings changed the output:\npostgres:  %.400q\npg2s3_odd: %.400q", mine, theirs)
	}
	// With --server-settings the role's settings show, which proves the role really is different.
	if kept := export(odd, copyout.Session{KeepServer: true}); bytes.Equal(kept, mine) {
		t.Error("--server-settings gave the same bytes: the role's settings did not apply, so this test proves nothing")
	}
	// --timezone changes timestamptz values only.
	if ist := export(testenv.DSN(t), copyout.Session{TimeZone: "Asia/Kolkata"}); !bytes.Contains(ist, []byte("+05:30")) {
		t.Errorf("--timezone Asia/Kolkata: no +05:30 offset in %.300q", ist)
	}
}

// CSV options reach COPY quoted, and PostgreSQL's own message comes back for what it refuses.
func TestExportCSVOptions(t *testing.T) {
	null := "NULL"
	empty := ""
	tests := []struct {
		name  string
		opts  copyout.Options
		truth string // COPY options psql runs
		err   string
	}{
		{name: "pipe, NULL marker, single quote, force quote all", opts: copyout.Options{Delimiter: "|", Null: &null, Quote: "'", ForceQuote: []string{"*"}},
			truth: "FORMAT csv, DELIMITER '|', NULL 'NULL', QUOTE '''', FORCE_QUOTE *"},
		{name: "tab, escape, force quote some columns", opts: copyout.Options{Delimiter: "\t", Escape: `\`, ForceQuote: []string{"column3", "column5"}, Header: true},
			truth: "FORMAT csv, DELIMITER E'\\t', ESCAPE E'\\\\', FORCE_QUOTE (column3, column5), HEADER"},
		{name: "text format", opts: copyout.Options{Format: "text"}, truth: "FORMAT text"},
		{name: "text format, empty NULL", opts: copyout.Options{Format: "text", Null: &empty}, truth: "FORMAT text, NULL ''"},
		{name: "LATIN1 encoding", opts: copyout.Options{Encoding: "LATIN1"}, truth: "FORMAT csv, ENCODING 'LATIN1'"},
		{name: "quote equals delimiter", opts: copyout.Options{Delimiter: ";", Quote: ";"}, err: "COPY delimiter and quote must be different"},
		{name: "quote in text format", opts: copyout.Options{Format: "text", Quote: "'"}, err: "0A000"}, // the message's words changed in PostgreSQL 16; its SQLSTATE did not
		{name: "force quote of a missing column", opts: copyout.Options{ForceQuote: []string{`no "such"; column`}}, err: `no "such"; column`},
		{name: "unknown encoding", opts: copyout.Options{Encoding: "KLINGON"}, err: "must be a valid encoding name"},
	}
	query := "SELECT * FROM (VALUES (1, NULL::text, '', 'a|b''c\"d', E'tab\\there', 'é'), (2, 'NULL', 'x;y', E'back\\\\slash', '', 'plain')) v"
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			cfg := baseConfig(t, query, "-")
			cfg.CSV, cfg.Stdout = tt.opts, &out
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			_, err := exportOne(context.Background(), cfg)
			if tt.err != "" {
				mustErr(t, err, tt.err)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			want := testenv.Psql(t, "COPY ("+query+") TO STDOUT WITH ("+tt.truth+")")
			if !bytes.Equal(out.Bytes(), want) {
				t.Errorf("got  %q\nwant %q", out.Bytes(), want)
			}
		})
	}
	if err := (&Config{Query: "SELECT 1", To: dest(t, "-"), CSV: copyout.Options{Delimiter: "ab"}}).Validate(); err == nil ||
		!strings.Contains(err.Error(), "single one-byte character") {
		t.Errorf("a two-character delimiter was not refused up front: %v", err)
	}
}
