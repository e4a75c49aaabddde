package copyout

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgconn/ctxwatch"
)

// Session holds the settings of an export session. Two kinds, both sent in the startup packet so
// that they take precedence over ALTER ROLE/DATABASE ... SET (a setting the DSN names itself, in
// its options, is left to the DSN):
//
//   - Output: DateStyle=ISO, IntervalStyle=iso_8601, TimeZone=UTC, extra_float_digits=3 (every
//     float round-trips), bytea_output=hex, client_encoding=UTF8: the same table gives the same
//     bytes whoever exports it, wherever. KeepServer keeps the server's and the role's instead
//     (client_encoding stays UTF8).
//   - Protection, as pg_dump's setup_connection sets them, always: synchronize_seqscans=off (a
//     sequential scan starts at the table's first page, so an unchanged table gives the same row
//     order every time), statement_timeout=0, lock_timeout=0 (or LockTimeout),
//     idle_in_transaction_session_timeout=0 (a role's timeouts cannot kill the export or the
//     coordinator holding its snapshot), row_security=off (a table with row-level security fails
//     the export, naming the policy, instead of silently losing rows; RowSecurity turns it on).
//     idle_session_timeout (PostgreSQL 14+) and transaction_timeout (17+) are set to 0 right after
//     connecting, where the server knows them.
type Session struct {
	TimeZone    string        // TimeZone (default UTC)
	KeepServer  bool          // keep the server's and the role's output settings
	LockTimeout time.Duration // lock_timeout: give up waiting for a table's lock after this (0: wait)
	RowSecurity bool          // row_security=on: export what the role's policies let it see
}

// Settings returns the settings a session starts with (see Session).
func (s Session) Settings() map[string]string {
	m := map[string]string{"client_encoding": "UTF8"}
	if !s.KeepServer {
		tz := s.TimeZone
		if tz == "" {
			tz = "UTC"
		}
		for k, v := range map[string]string{"DateStyle": "ISO", "IntervalStyle": "iso_8601", "TimeZone": tz,
			"extra_float_digits": "3", "bytea_output": "hex"} {
			m[k] = v
		}
	}
	m["synchronize_seqscans"] = "off"
	m["statement_timeout"] = "0"
	m["lock_timeout"] = strconv.FormatInt(s.LockTimeout.Milliseconds(), 10)
	m["idle_in_transaction_session_timeout"] = "0"
	m["row_security"] = "off"
	if s.RowSecurity {
		m["row_security"] = "on"
	}
	return m
}

// laterSettings are the protective settings older servers do not know, set after connecting.
var laterSettings = []struct {
	name    string
	version int // server_version_num from which the setting exists
}{{"idle_session_timeout", 140000}, {"transaction_timeout", 170000}}

// PGOptions renders the settings as a PGOPTIONS value, so that psql can run with the same ones.
func (s Session) PGOptions() string {
	var opts []string
	for k, v := range s.Settings() {
		opts = append(opts, "-c "+k+"="+v)
	}
	sort.Strings(opts)
	return strings.Join(opts, " ")
}

// Conn is the one recipe every pg2s3 connection is made with: the export, its workers, the
// snapshot holder and bench all connect through it.
type Conn struct {
	DSN            string        // URL or key=value string; empty: the PG* variables and ~/.pgpass, as in psql
	Session        Session       // settings that make the output independent of the server's defaults
	ConnectTimeout time.Duration // used when the DSN has no connect_timeout (default 30s)
}

// DefaultConnectTimeout is used when neither Conn.ConnectTimeout nor the DSN sets one.
const DefaultConnectTimeout = 30 * time.Second

// cancelDelay is how long a cancelled context waits for the server to honour the cancel request
// before the socket is closed.
const cancelDelay = 3 * time.Second

// Config parses c.DSN the way libpq does, through pgconn.ParseConfig, and applies the recipe: the
// session is read-only by default, gets the settings of c.Session, is named pg2s3 unless the DSN
// names it, gives up connecting after the connect timeout, and on cancellation sends the server a
// cancel request (closing the socket CancelDelay later if the query does not stop).
func (c Conn) Config() (*pgconn.Config, error) {
	cfg, err := pgconn.ParseConfig(c.DSN)
	if err != nil {
		return nil, &DSNError{DSN: redactDSN(c.DSN), Msg: redactErr(err, c.DSN)}
	}
	if cfg.RuntimeParams == nil {
		cfg.RuntimeParams = map[string]string{}
	}
	cfg.RuntimeParams["default_transaction_read_only"] = "on"
	for k, v := range c.Session.Settings() {
		if _, own := cfg.RuntimeParams[k]; own || strings.Contains(cfg.RuntimeParams["options"], k) {
			continue // the DSN set it
		}
		cfg.RuntimeParams[k] = v
	}
	cfg.AfterConnect = func(ctx context.Context, pc *pgconn.PgConn) error {
		version, _ := strconv.Atoi(pc.ParameterStatus("server_version_num"))
		if version == 0 { // before PostgreSQL 12 the server does not report server_version_num
			major, _, _ := strings.Cut(pc.ParameterStatus("server_version"), ".")
			n, _ := strconv.Atoi(major)
			version = n * 10000
		}
		for _, l := range laterSettings {
			if version >= l.version && !strings.Contains(cfg.RuntimeParams["options"], l.name) {
				if err := exec(ctx, pc, "SET "+l.name+" = 0"); err != nil {
					return fmt.Errorf("setting %s: %w", l.name, err)
				}
			}
		}
		return nil
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = "pg2s3"
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = c.ConnectTimeout
		if cfg.ConnectTimeout <= 0 {
			cfg.ConnectTimeout = DefaultConnectTimeout
		}
	}
	// Reads from the server go through rawReads (rawread_linux.go): a quarter of the client's CPU
	// on a COPY to stdout went to the runtime's bookkeeping around each socket read.
	dial := cfg.DialFunc
	cfg.DialFunc = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return rawReads(c), nil
	}
	cfg.BuildContextWatcherHandler = func(pc *pgconn.PgConn) ctxwatch.Handler {
		return &pgconn.CancelRequestContextWatcherHandler{Conn: pc, DeadlineDelay: cancelDelay}
	}
	return cfg, nil
}

// Connect parses the recipe and opens one connection.
func (c Conn) Connect(ctx context.Context) (*pgconn.PgConn, error) {
	cfg, err := c.Config()
	if err != nil {
		return nil, err
	}
	return Connect(ctx, cfg)
}

// DSNError is a connection string pgconn could not parse; the password is already hidden.
type DSNError struct {
	DSN string
	Msg string
}

func (e *DSNError) Error() string {
	return fmt.Sprintf("invalid connection string %s: %s", e.DSN, e.Msg)
}

// Connect opens a connection with cfg. Its errors name the host and port that failed.
func Connect(ctx context.Context, cfg *pgconn.Config) (*pgconn.PgConn, error) {
	conn, err := pgconn.ConnectConfig(ctx, cfg)
	if err != nil {
		return nil, &ConnectError{Host: cfg.Host, Port: cfg.Port, User: cfg.User, Database: cfg.Database, Err: err, password: cfg.Password}
	}
	return conn, nil
}

// ConnectError is a failed connection attempt.
type ConnectError struct {
	Host     string
	Port     uint16
	User     string
	Database string
	Err      error
	password string
}

func (e *ConnectError) Error() string {
	where := fmt.Sprintf("%s:%d", e.Host, e.Port)
	if strings.HasPrefix(e.Host, "/") {
		where = fmt.Sprintf("socket %s/.s.PGSQL.%d", e.Host, e.Port)
	}
	msg := e.Err.Error()
	var pgErr *pgconn.PgError
	if ce := (*pgconn.ConnectError)(nil); asConnectError(e.Err, &ce) {
		msg = ce.Unwrap().Error()
		if asPgError(ce.Unwrap(), &pgErr) {
			msg = describePgError(pgErr)
		}
	}
	if strings.Contains(msg, "server refused TLS connection") {
		msg += " (the server does not offer TLS; sslmode=prefer or disable connects without it)"
	}
	if e.password != "" {
		msg = strings.ReplaceAll(msg, e.password, "xxxxx")
	}
	return fmt.Sprintf("connecting to PostgreSQL at %s (user %q, database %q): %s", where, e.User, e.Database, msg)
}

func (e *ConnectError) Unwrap() error { return e.Err }

var (
	urlPassword = regexp.MustCompile(`^(postgres(?:ql)?://[^:@/]*:)([^@/]*)@`)
	kvPassword  = regexp.MustCompile(`(password\s*=\s*)('(?:[^'\\]|\\.)*'|[^\s]*)`)
)

// redactDSN hides the password of a connection string, URL or key=value form.
func redactDSN(dsn string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		if u, err := url.Parse(dsn); err == nil {
			if _, ok := u.User.Password(); ok {
				u.User = url.UserPassword(u.User.Username(), "xxxxx")
			}
			q := u.Query()
			if q.Has("password") {
				q.Set("password", "xxxxx")
				u.RawQuery = q.Encode()
			}
			return u.String()
		}
		return urlPassword.ReplaceAllString(dsn, "${1}xxxxx@")
	}
	return kvPassword.ReplaceAllString(dsn, "${1}xxxxx")
}

// redactErr renders err with any password of dsn removed.
func redactErr(err error, dsn string) string {
	msg := err.Error()
	if cfg, perr := pgconn.ParseConfig(dsn); perr == nil && cfg.Password != "" {
		msg = strings.ReplaceAll(msg, cfg.Password, "xxxxx")
	}
	if u, perr := url.Parse(dsn); perr == nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
		}
	}
	return msg
}
