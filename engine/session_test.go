package engine

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/pg2s3/pg2s3/copyout"
	"github.com/pg2s3/pg2s3/internal/testenv"
)

// roleDSN creates a login role with the given ALTER ROLE ... SET settings and returns its DSN.
func roleDSN(t *testing.T, role, settings string) string {
	t.Helper()
	testenv.Psql(t, `DO $$BEGIN IF EXISTS (SELECT FROM pg_roles WHERE rolname = '`+role+`') THEN
		EXECUTE 'DROP OWNED BY `+role+` CASCADE'; EXECUTE 'DROP ROLE `+role+`'; END IF; END$$;`+
		`CREATE ROLE `+role+` LOGIN PASSWORD 'role-pw'; GRANT SELECT ON ALL TABLES IN SCHEMA public TO `+role+`;`+settings)
	return testenv.AsRole(t, role, "role-pw")
}

// A role whose settings would kill or change an export (statement, lock, idle timeouts;
// synchronized scans) changes nothing, on one object and on many: the session sets what pg_dump
// sets, in the startup packet.
func TestSessionSurvivesHostileRole(t *testing.T) {
	bucket, client := testenv.Stack(t)
	testenv.Psql(t, `DROP TABLE IF EXISTS hostile_a, hostile_b;
		CREATE TABLE hostile_a AS SELECT g AS id, md5(g::text) AS s FROM generate_series(1, 200000) g;
		CREATE TABLE hostile_b AS SELECT g AS id FROM generate_series(1, 1000) g;`)
	dsn := roleDSN(t, "pg2s3_hostile", `
		ALTER ROLE pg2s3_hostile SET statement_timeout = '1ms';
		ALTER ROLE pg2s3_hostile SET lock_timeout = '1ms';
		ALTER ROLE pg2s3_hostile SET idle_in_transaction_session_timeout = '1ms';
		ALTER ROLE pg2s3_hostile SET synchronize_seqscans = on;
		ALTER ROLE pg2s3_hostile SET row_security = on;`)
	// What the session runs with.
	var out bytes.Buffer
	cfg := baseConfig(t, `SELECT current_setting('statement_timeout'), current_setting('lock_timeout'),
		current_setting('idle_in_transaction_session_timeout'), current_setting('synchronize_seqscans'),
		current_setting('row_security'), current_setting('default_transaction_read_only')`, "-")
	cfg.Conn.DSN, cfg.Stdout = dsn, &out
	if _, err := exportOne(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	if got, want := out.String(), "0,0,0,off,off,on\n"; got != want {
		t.Errorf("session settings under the hostile role: %q, want %q", got, want)
	}
	// One object, and many in chunks over several workers (the coordinator idles in its
	// transaction meanwhile: a 1 ms idle timeout would kill it).
	one := baseConfig(t, "", "s3://"+bucket+"/"+testenv.Key(t))
	one.Query, one.Tables, one.Conn.DSN = "", []string{"hostile_a"}, dsn
	testenv.Remove(t, client, bucket, strings.TrimPrefix(one.To.Raw, "s3://"+bucket+"/"))
	if _, err := exportOne(context.Background(), one); err != nil {
		t.Errorf("one object under the hostile role: %v", err)
	}
	many := config(t, testenv.Prefix(t, client, bucket))
	many.Tables, many.Conn.DSN, many.Jobs, many.ChunkSize = []string{"hostile_a", "hostile_b"}, dsn, 2, 1<<20
	m, err := Run(context.Background(), many)
	if err != nil {
		t.Fatalf("many objects under the hostile role: %v", err)
	}
	if m.Rows() != 201000 || (len(m.Objects) < 5 && chunked(t)) {
		t.Errorf("%d rows in %d objects, want 201000 rows in chunks", m.Rows(), len(m.Objects))
	}
}

// Row-level security never filters rows silently: a table with a policy fails the export, naming
// it, unless row security is asked for, and then the role's rows come out.
func TestRowSecurity(t *testing.T) {
	testenv.Psql(t, `DROP TABLE IF EXISTS rls_t; CREATE TABLE rls_t (id int, owner text);
		INSERT INTO rls_t SELECT g, CASE WHEN g % 2 = 0 THEN 'pg2s3_rls' ELSE 'someone' END FROM generate_series(1, 10) g;
		ALTER TABLE rls_t ENABLE ROW LEVEL SECURITY;`)
	dsn := roleDSN(t, "pg2s3_rls", `CREATE POLICY mine ON rls_t FOR SELECT TO pg2s3_rls USING (owner = current_user);`)
	for _, shape := range []string{"one", "many"} {
		for _, rowSecurity := range []bool{false, true} {
			var out bytes.Buffer
			cfg := baseConfig(t, "", "-")
			cfg.Query, cfg.Tables, cfg.Conn.DSN, cfg.Stdout = "", []string{"rls_t"}, dsn, &out
			cfg.Conn.Session = copyout.Session{RowSecurity: rowSecurity}
			var err error
			if shape == "one" {
				_, err = exportOne(context.Background(), cfg)
			} else {
				bucket, client := testenv.Stack(t)
				cfg.To = dest(t, "s3://"+bucket+"/"+testenv.Prefix(t, client, bucket))
				cfg.S3Client = client
				var m *Manifest
				if m, err = Run(context.Background(), cfg); err == nil {
					out.Write(testenv.GetURL(t, client, m.Objects[0].URL))
				}
			}
			switch {
			case !rowSecurity && (err == nil || !strings.Contains(err.Error(), "row-level security") || !strings.Contains(err.Error(), "42501")):
				t.Errorf("%s, row security off: err %v, want the server's refusal (42501, row-level security)", shape, err)
			case rowSecurity && (err != nil || strings.Count(out.String(), "\n") != 5):
				t.Errorf("%s, row security on: err %v, output %q; want the role's 5 rows", shape, err, out.String())
			}
		}
	}
}

// When the connection holding the snapshot dies (here a DSN that asks for a short idle timeout,
// which the session then honours), the run's error names that cause, not only the workers'
// "invalid snapshot identifier". One worker exports two views in turn: the first sleeps on the
// server for a second, so the second joins the snapshot long after the coordinator went idle,
// however fast the machine.
func TestCoordinatorLossNamed(t *testing.T) {
	bucket, client := testenv.Stack(t)
	testenv.Psql(t, `CREATE OR REPLACE VIEW coord_slow AS SELECT pg_sleep(1)::text AS slept;
		CREATE OR REPLACE VIEW coord_next AS SELECT 1 AS x;`)
	cfg := config(t, testenv.Prefix(t, client, bucket))
	cfg.Tables, cfg.Jobs = []string{"coord_slow", "coord_next"}, 1
	sep := "?"
	if strings.Contains(cfg.Conn.DSN, "?") {
		sep = "&"
	}
	cfg.Conn.DSN += sep + "options=-c%20idle_in_transaction_session_timeout%3D300"
	_, err := Run(context.Background(), cfg)
	if err == nil {
		t.Fatal("the run succeeded although its coordinator was killed after 300 ms idle in its transaction")
	}
	for _, want := range []string{"snapshot", "25P03", "coord_next"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %q", err, want)
		}
	}
}
