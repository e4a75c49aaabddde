package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/pg2s3/pg2s3/internal/testenv"
	"github.com/pg2s3/pg2s3/upload"
)

// Faults injected between pg2s3 and the real servers. Each fault runs PG2S3_FAULT_RUNS times
// (default 1); every run must either recover with an object byte-identical to psql's COPY, or fail
// with a message naming the cause, no object visible and no multipart upload left open. With
// PG2S3_FAULT_REPORT_DIR set, the tally is written there as rows of docs/reliability.md.

// s3Fault decides, for one request reaching the proxy, whether to inject a fault. attempt counts
// the requests of the same kind (and part number) so far, from 1.
type s3Fault func(w http.ResponseWriter, r *http.Request, kind string, part, attempt int) (handled bool)

// s3Proxy is a reverse proxy to MinIO that can inject faults.
type s3Proxy struct {
	*httptest.Server
	mu       sync.Mutex
	attempts map[string]int
	fault    s3Fault
	stall    func(kind string, part, attempt int) time.Duration
}

func newS3Proxy(t *testing.T) *s3Proxy {
	p := &s3Proxy{attempts: map[string]int{}}
	rp := testenv.StoreProxy(t) // the client hanging up mid-fault is expected, and not logged
	rp.ModifyResponse = func(resp *http.Response) error {
		kind, part := classify(resp.Request)
		if p.stall == nil {
			return nil
		}
		if d := p.stall(kind, part, p.count(kind, part, false)); d > 0 {
			select {
			case <-time.After(d):
			case <-resp.Request.Context().Done():
			}
		}
		return nil
	}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kind, part := classify(r)
		attempt := p.count(kind, part, true)
		if p.fault != nil && p.fault(w, r, kind, part, attempt) {
			return
		}
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(p.Close)
	return p
}

// count returns the attempt number of this kind of request, incrementing it when add is set.
func (p *s3Proxy) count(kind string, part int, add bool) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	k := kind + "/" + strconv.Itoa(part)
	if add {
		p.attempts[k]++
	}
	return p.attempts[k]
}

func classify(r *http.Request) (kind string, part int) {
	q := r.URL.Query()
	switch {
	case r.Method == http.MethodPut && q.Has("partNumber"):
		part, _ = strconv.Atoi(q.Get("partNumber"))
		return "UploadPart", part
	case r.Method == http.MethodPost && q.Has("uploads"):
		return "Create", 0
	case r.Method == http.MethodPost && q.Has("uploadId"):
		return "Complete", 0
	case r.Method == http.MethodDelete && q.Has("uploadId"):
		return "Abort", 0
	case r.Method == http.MethodPut:
		return "PutObject", 0
	}
	return r.Method, 0
}

// s3Error answers like S3: the request body is read, then the error is returned.
func s3Error(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message><RequestId>fault</RequestId></Error>`, code, msg)
}

// resetMidBody reads some of the request body, then resets the TCP connection.
func resetMidBody(w http.ResponseWriter, r *http.Request) {
	io.CopyN(io.Discard, r.Body, 1<<20)
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		panic(err)
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		tc.SetLinger(0) // RST, not FIN
	}
	conn.Close()
}

// pgProxy is a TCP proxy in front of PostgreSQL that can cut connections after n bytes from the server.
type pgProxy struct {
	ln       net.Listener
	cutAfter atomic.Int64 // 0: never
}

func newPGProxy(t *testing.T) *pgProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &pgProxy{ln: ln}
	target := "127.0.0.1:" + os.Getenv("PGPORT")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				s, err := net.Dial("tcp", target)
				if err != nil {
					c.Close()
					return
				}
				go func() { io.Copy(s, c); s.Close() }()
				var n int64
				buf := make([]byte, 32<<10)
				for {
					m, err := s.Read(buf)
					if m > 0 {
						n += int64(m)
						if cut := p.cutAfter.Load(); cut > 0 && n > cut {
							c.(*net.TCPConn).SetLinger(0)
							c.Close()
							s.Close()
							return
						}
						if _, err := c.Write(buf[:m]); err != nil {
							break
						}
					}
					if err != nil {
						break
					}
				}
				c.Close()
				s.Close()
			}()
		}
	}()
	t.Cleanup(func() { ln.Close() })
	return p
}

func (p *pgProxy) dsn(t *testing.T) string {
	return strings.Replace(testenv.DSN(t), ":"+os.Getenv("PGPORT")+"/", ":"+strconv.Itoa(p.ln.Addr().(*net.TCPAddr).Port)+"/", 1)
}

// tally counts the outcomes of the runs of one fault.
type tally struct {
	fault                                   string
	runs, recovered, failedCleanly          int
	leftVisible, leftOpen, differ, wrongMsg int
}

var (
	tallyMu sync.Mutex
	tallies []*tally
)

func faultRuns() int {
	if n, err := strconv.Atoi(os.Getenv("PG2S3_FAULT_RUNS")); err == nil && n > 0 {
		return n
	}
	return 1
}

const faultQuery = "SELECT g, md5(g::text), 'fault-test' FROM generate_series(1, 500000) g" // ~ 24 MB, 5 parts of 5 MiB

func TestFaults(t *testing.T) {
	bucket := testenv.Bucket(t)
	client := testenv.S3(t)
	want := testenv.Psql(t, "COPY ("+faultQuery+") TO STDOUT WITH (FORMAT csv)")

	type fault struct {
		name    string
		expect  string   // "recover" or "fail"
		message []string // for "fail": what the error must name
		// orMessage, when set, is what the error may name instead: a backend terminated while it is
		// blocked writing to us (back-pressure) closes without its FATAL message, because sending it
		// could block again or interleave with the COPY data (ProcessClientWriteInterrupt), so all
		// pg2s3 can say is that the connection was lost.
		orMessage []string
		// abortFails: the fault makes the abort fail, so the upload stays open, named by the error.
		abortFails bool
		setup      func(t *testing.T, cfg *Config, s3p *s3Proxy, pgp *pgProxy)
	}
	// whileCopyHeld runs f once the first part is uploaded, while the uploads wait for it: their
	// buffers stay full, so the COPY is held mid-stream by back-pressure until f is done, however
	// slow the machine. The query is larger than those buffers (about 250 MB).
	whileCopyHeld := func(cfg *Config, f func()) {
		cfg.Query = "SELECT g, md5(g::text), 'fault-test' FROM generate_series(1, 5000000) g"
		var once sync.Once
		cfg.onPart = func(string, int, int64) { once.Do(f) }
	}
	faults := []fault{
		{name: "S3: 503 SlowDown on part 2 (twice)", expect: "recover", setup: func(t *testing.T, cfg *Config, s3p *s3Proxy, _ *pgProxy) {
			s3p.fault = func(w http.ResponseWriter, r *http.Request, kind string, part, attempt int) bool {
				if kind == "UploadPart" && part == 2 && attempt <= 2 {
					s3Error(w, r, http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate.")
					return true
				}
				return false
			}
		}},
		{name: "S3: 500 InternalError on part 3", expect: "recover", setup: func(t *testing.T, cfg *Config, s3p *s3Proxy, _ *pgProxy) {
			s3p.fault = func(w http.ResponseWriter, r *http.Request, kind string, part, attempt int) bool {
				if kind == "UploadPart" && part == 3 && attempt == 1 {
					s3Error(w, r, http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again.")
					return true
				}
				return false
			}
		}},
		{name: "S3: connection reset mid part body", expect: "recover", setup: func(t *testing.T, cfg *Config, s3p *s3Proxy, _ *pgProxy) {
			s3p.fault = func(w http.ResponseWriter, r *http.Request, kind string, part, attempt int) bool {
				if kind == "UploadPart" && part == 2 && attempt == 1 {
					resetMidBody(w, r)
					return true
				}
				return false
			}
		}},
		{name: "S3: part response stalled past --part-timeout", expect: "recover", setup: func(t *testing.T, cfg *Config, s3p *s3Proxy, _ *pgProxy) {
			cfg.Upload.PartTimeout = 2 * time.Second
			s3p.stall = func(kind string, part, attempt int) time.Duration {
				if kind == "UploadPart" && part == 2 && attempt == 1 {
					return 8 * time.Second
				}
				return 0
			}
		}},
		{name: "S3: CompleteMultipartUpload fails once", expect: "recover", setup: func(t *testing.T, cfg *Config, s3p *s3Proxy, _ *pgProxy) {
			s3p.fault = func(w http.ResponseWriter, r *http.Request, kind string, part, attempt int) bool {
				if kind == "Complete" && attempt == 1 {
					s3Error(w, r, http.StatusInternalServerError, "InternalError", "We encountered an internal error. Please try again.")
					return true
				}
				return false
			}
		}},
		{name: "S3: 503 on every part (retries exhausted)", expect: "fail", message: []string{"upload part", "SlowDown", "HTTP 503", "gave up after 3 attempts"}, setup: func(t *testing.T, cfg *Config, s3p *s3Proxy, _ *pgProxy) {
			cfg.S3.MaxAttempts = 3
			t.Cleanup(func() {
				n := 0
				for part := 1; part <= 10; part++ {
					n = max(n, s3p.count("UploadPart", part, false))
				}
				if n != 3 {
					t.Errorf("the part that failed first was tried %d times, want 3 (--retries)", n)
				}
			})
			s3p.fault = func(w http.ResponseWriter, r *http.Request, kind string, part, attempt int) bool {
				if kind == "UploadPart" {
					s3Error(w, r, http.StatusServiceUnavailable, "SlowDown", "Please reduce your request rate.")
					return true
				}
				return false
			}
		}},
		{name: "S3: AccessDenied on part 2 (permanent, not retried)", expect: "fail", message: []string{"upload part 2", "AccessDenied"}, setup: func(t *testing.T, cfg *Config, s3p *s3Proxy, _ *pgProxy) {
			s3p.fault = func(w http.ResponseWriter, r *http.Request, kind string, part, attempt int) bool {
				if kind == "UploadPart" && part == 2 {
					if attempt > 1 {
						t.Errorf("a permanent error was retried (attempt %d)", attempt)
					}
					s3Error(w, r, http.StatusForbidden, "AccessDenied", "Access Denied.")
					return true
				}
				return false
			}
		}},
		{name: "S3: AbortMultipartUpload fails (after a part failed)", expect: "fail", message: []string{"AccessDenied", "aborting multipart upload", "failed too", "until it is aborted"}, abortFails: true, setup: func(t *testing.T, cfg *Config, s3p *s3Proxy, _ *pgProxy) {
			s3p.fault = func(w http.ResponseWriter, r *http.Request, kind string, part, attempt int) bool {
				switch {
				case kind == "UploadPart" && part == 2:
					s3Error(w, r, http.StatusForbidden, "AccessDenied", "Access Denied.")
					return true
				case kind == "Abort":
					s3Error(w, r, http.StatusInternalServerError, "InternalError", "abort is broken today")
					return true
				}
				return false
			}
		}},
		{name: "PostgreSQL: TCP connection cut mid-COPY", expect: "fail", message: []string{"lost the connection to PostgreSQL during COPY", "connection reset"}, setup: func(t *testing.T, cfg *Config, _ *s3Proxy, pgp *pgProxy) {
			pgp.cutAfter.Store(12 << 20)
		}},
		{name: "PostgreSQL: pg_terminate_backend on the COPY", expect: "fail", message: []string{"57P01", "terminating connection"},
			orMessage: []string{"lost the connection to PostgreSQL during COPY", "a COPY stream cannot be resumed"}, setup: func(t *testing.T, cfg *Config, _ *s3Proxy, _ *pgProxy) {
				whileCopyHeld(cfg, func() {
					if n := testenv.PsqlValue(t, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE application_name = 'pg2s3' AND query LIKE '%fault-test%' AND pid <> pg_backend_pid()"); strings.TrimSpace(n) != "1" {
						t.Errorf("terminated %s backends, want the COPY's", n)
					}
				})
			}},
		{name: "PostgreSQL: statement_timeout mid-stream", expect: "fail", message: []string{"57014", "statement timeout"}, setup: func(t *testing.T, cfg *Config, _ *s3Proxy, _ *pgProxy) {
			cfg.Query = "SELECT g, md5(g::text), 'fault-test' FROM (SELECT generate_series(1, 50000000) g) s"
			cfg.Conn.DSN += "&options=-c%20statement_timeout%3D1000"
			var parts atomic.Int64
			cfg.onPart = func(string, int, int64) { parts.Add(1) }
			t.Cleanup(func() {
				if parts.Load() == 0 {
					t.Errorf("the timeout hit before the first part: not mid-stream")
				}
			})
		}},
		{name: "PostgreSQL: server restart mid-COPY", expect: "fail", message: []string{"57P01"},
			orMessage: []string{"lost the connection to PostgreSQL during COPY", "a COPY stream cannot be resumed"}, setup: func(t *testing.T, cfg *Config, _ *s3Proxy, _ *pgProxy) {
				dir, bindir := os.Getenv("PG2S3_STACK_DIR"), os.Getenv("PG2S3_PG_BINDIR")
				if dir == "" || bindir == "" {
					t.Skip("PG2S3_STACK_DIR and PG2S3_PG_BINDIR are not set: run the tests with `make test`")
				}
				done := make(chan struct{})
				whileCopyHeld(cfg, func() {
					defer close(done)
					// -l: the restarted server must not inherit (and hold open) our output pipe.
					args := []string{filepath.Join(bindir, "pg_ctl"), "-D", filepath.Join(dir, "pg", "data"), "-l", filepath.Join(dir, "pg", "server.log"), "-m", "fast", "-w", "restart"}
					if os.Getuid() == 0 {
						args = append([]string{"runuser", "-u", "postgres", "--"}, args...)
					}
					if out, err := exec.Command(args[0], args[1:]...).CombinedOutput(); err != nil {
						t.Errorf("pg_ctl restart: %v\n%s", err, out)
					}
				})
				t.Cleanup(func() {
					select {
					case <-done:
					case <-time.After(60 * time.Second):
						t.Error("the server did not restart within a minute")
					}
				})
			}},
	}

	for _, f := range faults {
		tl := &tally{fault: f.name}
		t.Run(f.name, func(t *testing.T) {
			for run := 1; run <= faultRuns(); run++ {
				t.Run(strconv.Itoa(run), func(t *testing.T) {
					s3p := newS3Proxy(t)
					pgp := newPGProxy(t)
					key := testenv.Key(t)
					testenv.Remove(t, client, bucket, key)
					cfg := baseConfig(t, faultQuery, "s3://"+bucket+"/"+key)
					cfg.S3.Endpoint = s3p.URL
					cfg.Conn.DSN = pgp.dsn(t)
					f.setup(t, &cfg, s3p, pgp)
					ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
					defer cancel()
					_, err := exportOne(ctx, cfg)
					tl.runs++
					if err == nil {
						got := testenv.Get(t, client, bucket, key)
						if testenv.SHA256(got) == testenv.SHA256(want) {
							tl.recovered++
						} else {
							tl.differ++
							t.Errorf("the object differs from psql's COPY output (%d vs %d bytes)", len(got), len(want))
						}
					} else {
						t.Logf("error: %v", err)
						visible := objectExists(t, bucket, key)
						open := testenv.OpenUploads(t, client, bucket, key)
						if f.abortFails {
							// The abort was made to fail: the upload is open, and the error is an *upload.AbortError
							// naming it, from which the command line words the cleanup (command's TestCleanupHints).
							var ae *upload.AbortError
							if !errors.As(err, &ae) || ae.Key != key || !slices.Contains(open, ae.UploadID) {
								t.Errorf("the error does not name the upload left open (%v): %v", open, err)
							}
							for _, id := range open {
								if err := upload.Abort(context.Background(), client, upload.Incomplete{Bucket: bucket, Key: key, UploadID: id}); err != nil {
									t.Errorf("cleanup of the upload the failed abort left: %v", err)
								}
							}
							if len(open) != 1 {
								t.Errorf("want exactly the one upload whose abort failed, found %v", open)
							}
							open = testenv.OpenUploads(t, client, bucket, key)
						}
						switch {
						case visible:
							tl.leftVisible++
							t.Errorf("an object is visible after a failed export: %v", err)
						case len(open) > 0:
							tl.leftOpen++
							t.Errorf("uploads left open after a failed export: %v (%v)", open, err)
						default:
							tl.failedCleanly++
						}
						if !namesAll(err, f.message) && (f.orMessage == nil || !namesAll(err, f.orMessage)) {
							tl.wrongMsg++
							t.Errorf("the error does not name %q (nor %q):\n%v", f.message, f.orMessage, err)
						}
					}
					if (err == nil) != (f.expect == "recover") {
						t.Errorf("expected the export to %s; error: %v", f.expect, err)
					}
				})
			}
		})
		tallyMu.Lock()
		tallies = append(tallies, tl)
		tallyMu.Unlock()
	}
	writeFaultReport(t, "export", tallies)
}

// namesAll says whether err's message contains every one of want.
func namesAll(err error, want []string) bool {
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			return false
		}
	}
	return true
}

func objectExists(t testing.TB, bucket, key string) bool {
	t.Helper()
	_, err := testenv.S3(t).HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: &bucket, Key: &key})
	return err == nil
}

// writeFaultReport writes the tallies as markdown table rows to $PG2S3_FAULT_REPORT_DIR/name.md.
func writeFaultReport(t *testing.T, name string, ts []*tally) {
	dir := os.Getenv("PG2S3_FAULT_REPORT_DIR")
	if dir == "" {
		return
	}
	var b strings.Builder
	for _, tl := range ts {
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %d | %d | %d | %d |\n", tl.fault, tl.runs, tl.recovered, tl.failedCleanly, tl.leftVisible, tl.leftOpen, tl.differ, tl.wrongMsg)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".md"), []byte(b.String()), 0o644); err != nil {
		t.Error(err)
	}
}

// When S3 fails a many-object run and its aborts fail too, the error names every upload left open
// and every object it could not delete, with one command line that removes them; running that
// command leaves nothing.
func TestManyObjectsLeftoversNamed(t *testing.T) {
	bucket, client := testenv.Stack(t)
	testenv.Psql(t, `DROP TABLE IF EXISTS left_a, left_b;
		CREATE TABLE left_a AS SELECT g, md5(g::text) || md5((g*7)::text) AS s FROM generate_series(1, 200000) g;
		CREATE TABLE left_b AS SELECT g, md5(g::text) || md5((g*5)::text) AS s FROM generate_series(1, 200000) g;`)
	proxy := newS3Proxy(t)
	// Part 3 of every upload fails for good (no retry helps), and so does every abort.
	proxy.fault = func(w http.ResponseWriter, r *http.Request, kind string, part, attempt int) bool {
		switch {
		case kind == "UploadPart" && part == 3, kind == "Abort":
			s3Error(w, r, http.StatusForbidden, "AccessDenied", "fault: denied")
			return true
		}
		return false
	}
	proxied, err := upload.NewClient(context.Background(), upload.ClientConfig{Endpoint: proxy.URL, MaxAttempts: 1})
	if err != nil {
		t.Fatal(err)
	}
	p := testenv.Prefix(t, client, bucket)
	cfg := config(t, p)
	cfg.S3Client, cfg.Tables, cfg.ChunkSize, cfg.Jobs = proxied, []string{"left_a", "left_b"}, 0, 2
	_, err = Run(context.Background(), cfg)
	if err == nil {
		t.Fatal("the run succeeded although part 3 of every upload was refused")
	}
	var stuck []upload.Incomplete
	for _, inc := range mustList(t, client, bucket, p) {
		stuck = append(stuck, inc)
		if !strings.Contains(err.Error(), inc.UploadID) {
			t.Errorf("upload %s of %s is open and the error does not name it: %v", inc.UploadID, inc.Key, err)
		}
	}
	if len(stuck) == 0 {
		t.Fatalf("no upload was left open: the test does not exercise failed aborts (err %v)", err)
	}
	// What the command line words as one command per key (command's TestCleanupHints).
	var le *LeftoverError
	if !errors.As(err, &le) {
		t.Fatalf("err is not a *LeftoverError, which carries what is left: %v", err)
	}
	if want := upload.StoreOf(proxied, upload.ClientConfig{}); le.Store != want {
		t.Errorf("the leftovers' store is %+v, want the run's %+v", le.Store, want)
	}
	for _, inc := range stuck {
		if !slices.ContainsFunc(le.Uploads, func(u upload.Incomplete) bool { return u.Key == inc.Key && u.UploadID == inc.UploadID }) {
			t.Errorf("the leftovers %v do not name upload %s of %s", le.Uploads, inc.UploadID, inc.Key)
		}
	}
	for _, inc := range stuck { // what the named command does
		if err := upload.Abort(context.Background(), client, inc); err != nil {
			t.Fatal(err)
		}
	}
	if left := mustList(t, client, bucket, p); len(left) > 0 {
		t.Errorf("uploads still open: %v", left)
	}
}

// A cancellation that arrives while CreateMultipartUpload is in flight does not leak the upload
// the store creates: the request runs to its end, and the upload is aborted. The proxy cancels the
// run when it sees the request, before passing it on, so the store answers after the cancellation.
func TestCancelDuringCreateLeaksNothing(t *testing.T) {
	bucket, client := testenv.Stack(t)
	proxy := newS3Proxy(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var creates atomic.Int64
	target, _ := url.Parse(testenv.Endpoint())
	store := httputil.NewSingleHostReverseProxy(target)
	store.ErrorLog = log.New(io.Discard, "", 0)
	proxy.fault = func(w http.ResponseWriter, r *http.Request, kind string, part, attempt int) bool {
		if kind != "Create" {
			return false
		}
		creates.Add(1)
		cancel()
		// The store gets the request whatever the client does meanwhile, and creates the upload (a
		// recorder, not the client's connection, takes its answer, which is then passed on).
		rec := httptest.NewRecorder()
		store.ServeHTTP(rec, r.WithContext(context.Background()))
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
		return true
	}
	proxied, err := upload.NewClient(context.Background(), upload.ClientConfig{Endpoint: proxy.URL})
	if err != nil {
		t.Fatal(err)
	}
	key := testenv.Key(t)
	cfg := baseConfig(t, "SELECT g, md5(g::text) FROM generate_series(1, 300000) g", "s3://"+bucket+"/"+key)
	cfg.S3Client = proxied
	_, err = exportOne(ctx, cfg)
	if err == nil || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("err = %v, want the run interrupted", err)
	}
	if creates.Load() != 1 {
		t.Fatalf("%d CreateMultipartUpload requests: the test did not cancel during one", creates.Load())
	}
	testenv.AssertNothingLeft(t, client, bucket, key)
}
