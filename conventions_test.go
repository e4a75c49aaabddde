package main

import (
	"crypto/tls"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/pg2s3/pg2s3/internal/testenv"
)

// What a user of psql, the aws CLI and other command-line tools expects around the tool: version,
// help, typo suggestions, short flags, completion, the man page, --profile and --ca-bundle.

func TestVersion(t *testing.T) {
	r := pg2s3(t, nil, "version", "--json")
	if r.code != 0 {
		t.Fatalf("exit %d: %s", r.code, r.stderr)
	}
	var v struct {
		Version, Revision, Go, Platform string
		BuildDate                       string `json:"build_date"`
		CommitTime                      string `json:"commit_time"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &v); err != nil {
		t.Fatalf("version --json is not JSON: %v\n%s", err, r.stdout)
	}
	if v.Version == "" || v.Go != runtime.Version() || v.Platform != runtime.GOOS+"/"+runtime.GOARCH {
		t.Errorf("version fields: %+v", v)
	}
	if v.BuildDate != testBuildDate {
		t.Errorf("build date %q, want the one given at build time, %q", v.BuildDate, testBuildDate)
	}
	// TestMain builds from this work tree with -buildvcs=auto: the revision is the checkout's.
	if head, err := exec.Command("git", "rev-parse", "HEAD").Output(); err == nil {
		if want := strings.TrimSpace(string(head)); v.Revision != want || v.CommitTime == "" {
			t.Errorf("revision %q (commit time %q), want HEAD %s", v.Revision, v.CommitTime, want)
		}
	} else if v.Revision != "" {
		t.Errorf("not built in a git checkout, yet revision %q", v.Revision)
	}
	text := pg2s3(t, nil, "version")
	flag := pg2s3(t, nil, "--version")
	if text.code != 0 || flag.code != 0 || text.stdout != flag.stdout || !strings.Contains(text.stdout, v.Version) ||
		!strings.Contains(text.stdout, v.Revision) || !strings.Contains(text.stdout, testBuildDate) {
		t.Errorf("pg2s3 version and --version differ or miss fields:\n%s\n%s", text.stdout, flag.stdout)
	}
}

func TestHelpCommand(t *testing.T) {
	for _, cmd := range [][]string{{"export"}, {"manifest", "merge"}, {"cleanup"}} {
		help := pg2s3(t, nil, append([]string{"help"}, cmd...)...)
		flag := pg2s3(t, nil, append(cmd, "--help")...)
		if help.code != 0 || flag.code != 0 || help.stdout != flag.stdout || !strings.Contains(help.stdout, "pg2s3 "+strings.Join(cmd, " ")) {
			t.Errorf("pg2s3 help %v (exit %d) differs from %v --help:\n%s", cmd, help.code, cmd, help.stdout)
		}
	}
}

func TestTypoSuggestions(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"exprot"}, `unknown command "exprot" (did you mean "export"?)`},
		{[]string{"snapshto"}, `(did you mean "snapshot"?)`},
		{[]string{"export", "--tabel", "t", "--to", "-"}, "-tabel (did you mean --table?)"},
		{[]string{"export", "--part", "8MiB", "--to", "-"}, "--part-size or --part-timeout?)"},
		{[]string{"export", "--part-sise", "8MiB", "--to", "-"}, "-part-sise (did you mean --part-size?)"},
		{[]string{"cleanup", "--older", "1h", "s3://bkt/p"}, "(did you mean --older-than?)"},
		{[]string{"xyzzy"}, `unknown command "xyzzy"; the commands are export, plan`},
		{[]string{"manifest", "mrege", "s3://bkt/p/"}, `unknown command "mrege" of pg2s3 manifest (did you mean "merge"?)`},
		{[]string{"manifest"}, "no subcommand given"},
	} {
		r := pg2s3(t, nil, tt.args...)
		if r.code != 2 || !strings.Contains(r.stderr, tt.want) || r.stdout != "" {
			t.Errorf("pg2s3 %v: exit %d, want 2 and %q on stderr:\n%s", tt.args, r.code, tt.want, r.stderr)
		}
	}
	// Nothing near: no suggestion is made up.
	if r := pg2s3(t, nil, "export", "--zzzzzz", "--to", "-"); r.code != 2 || strings.Contains(r.stderr, "did you mean") {
		t.Errorf("a far typo got a suggestion: %s", r.stderr)
	}
}

// -c is the query (psql's -c), -q is quiet (psql, aws, rclone), and the old spellings still work:
// -q SQL is the query, with a note, and -Q is quiet.
func TestShortFlags(t *testing.T) {
	dsn := testenv.DSN(t)
	for _, tt := range []struct {
		args     []string
		note     bool
		summary  bool
		wantData string
	}{
		{[]string{"-c", "SELECT 7"}, false, true, "7\n"},
		{[]string{"-c", "SELECT 7", "-q"}, false, false, "7\n"},
		{[]string{"-q", "-c", "SELECT 7"}, false, false, "7\n"},
		{[]string{"-c", "SELECT 7", "-Q"}, false, false, "7\n"},
		{[]string{"-d", dsn, "-c", "SELECT current_database()", "-q"}, false, false, "pg2s3\n"}, // -d as in psql and pg_dump
		{[]string{"-q", "SELECT 8"}, true, true, "8\n"},
		{[]string{"-q", "SELECT 8", "-q"}, true, false, "8\n"},
		{[]string{"--null", "-q", "-q=SELECT NULL::int, 9"}, true, true, "-q,9\n"}, // -q as a flag's value is left alone
	} {
		dir := t.TempDir()
		out := filepath.Join(dir, "out.csv")
		r := pg2s3(t, nil, append(append([]string{"export"}, tt.args...), "--to", out)...)
		got, _ := os.ReadFile(out)
		if r.code != 0 || string(got) != tt.wantData {
			t.Errorf("export %v: exit %d, file %q, want %q\n%s", tt.args, r.code, got, tt.wantData, r.stderr)
			continue
		}
		if note := strings.Contains(r.stderr, "old spelling of --query"); note != tt.note {
			t.Errorf("export %v: note on stderr %v, want %v:\n%s", tt.args, note, tt.note, r.stderr)
		}
		if summary := strings.Contains(r.stderr, "pg2s3: exported"); summary != tt.summary {
			t.Errorf("export %v: summary %v, want %v:\n%s", tt.args, summary, tt.summary, r.stderr)
		}
	}
}

func completionScript(t *testing.T, shell string) string {
	t.Helper()
	r := pg2s3(t, nil, "completion", shell)
	if r.code != 0 || r.stdout == "" {
		t.Fatalf("completion %s: exit %d: %s", shell, r.code, r.stderr)
	}
	path := filepath.Join(t.TempDir(), "pg2s3."+shell)
	if err := os.WriteFile(path, []byte(r.stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func needShell(t *testing.T, shell string) string {
	t.Helper()
	p, err := exec.LookPath(shell)
	if err != nil {
		t.Skipf("%s is not installed: %s (scripts/stack.sh installs it)", shell, "run the tests with `make test`")
	}
	return p
}

// The scripts complete commands, subcommands, flags (from the same definitions as --help) and the
// values of flags that take one of a few words, in the shells themselves.
func TestCompletion(t *testing.T) {
	t.Run("bash", func(t *testing.T) {
		script := completionScript(t, "bash")
		for _, tt := range []struct {
			words []string
			want  []string
			not   []string
		}{
			{[]string{"pg2s3", "ex"}, []string{"export"}, []string{"plan"}},
			{[]string{"pg2s3", "export", "--form"}, []string{"--format"}, []string{"--to"}},
			{[]string{"pg2s3", "export", "--format", ""}, []string{"csv", "text", "parquet"}, []string{"--to"}},
			{[]string{"pg2s3", "export", "--compress", "z"}, []string{"zstd"}, []string{"gzip"}},
			{[]string{"pg2s3", "export", "--preset", "duck"}, []string{"duckdb"}, nil},
			{[]string{"pg2s3", "export", "--prof"}, []string{"--profile"}, nil},
			{[]string{"pg2s3", "manifest", ""}, []string{"merge"}, nil},
			{[]string{"pg2s3", "manifest", "merge", "--t"}, []string{"--to"}, []string{"--table"}},
			{[]string{"pg2s3", "completion", ""}, []string{"bash", "zsh", "fish"}, nil},
			{[]string{"pg2s3", "cleanup", "--older"}, []string{"--older-than"}, nil},
		} {
			line := "source " + script + "; COMP_WORDS=("
			for _, w := range tt.words {
				line += "'" + w + "' "
			}
			line += "); COMP_CWORD=" + strconv.Itoa(len(tt.words)-1) + `; _pg2s3; printf '%s\n' "${COMPREPLY[@]}"`
			out, err := exec.Command("bash", "--norc", "-c", line).CombinedOutput()
			if err != nil {
				t.Fatalf("bash: %v\n%s", err, out)
			}
			got := strings.Fields(string(out))
			for _, w := range tt.want {
				if !slices.Contains(got, w) {
					t.Errorf("%v: completions %v lack %q", tt.words, got, w)
				}
			}
			for _, w := range tt.not {
				if slices.Contains(got, w) {
					t.Errorf("%v: completions %v include %q", tt.words, got, w)
				}
			}
		}
	})
	t.Run("fish", func(t *testing.T) {
		fish := needShell(t, "fish")
		script := completionScript(t, "fish")
		for _, tt := range []struct {
			line string
			want []string
		}{
			{"pg2s3 ex", []string{"export"}},
			{"pg2s3 export --form", []string{"--format"}},
			{"pg2s3 export --format ", []string{"csv", "text", "parquet"}},
			{"pg2s3 export --checksum ", []string{"crc32c", "crc64nvme", "none"}},
			{"pg2s3 manifest ", []string{"merge"}},
			{"pg2s3 manifest merge --t", []string{"--to"}},
			{"pg2s3 export -", []string{"-c", "-q", "-t"}},
		} {
			out, err := exec.Command(fish, "--no-config", "-c", "source "+script+"; complete -C '"+tt.line+"'").CombinedOutput()
			if err != nil {
				t.Fatalf("fish: %v\n%s", err, out)
			}
			if len(strings.TrimSpace(string(out))) == 0 {
				t.Fatalf("%q: fish completes nothing", tt.line)
			}
			var got []string
			for _, l := range strings.Split(string(out), "\n") {
				got = append(got, strings.SplitN(l, "\t", 2)[0])
			}
			for _, w := range tt.want {
				if !slices.Contains(got, w) {
					t.Errorf("%q: completions %v lack %q", tt.line, got, w)
				}
			}
		}
	})
	t.Run("zsh", func(t *testing.T) {
		zsh := needShell(t, "zsh")
		script := completionScript(t, "zsh")
		if out, err := exec.Command(zsh, "-n", script).CombinedOutput(); err != nil {
			t.Fatalf("zsh -n: %v\n%s", err, out)
		}
		// Loaded into a zsh with the completion system, the functions exist and compdef took it.
		out, err := exec.Command(zsh, "-f", "-c", "autoload -U compinit && compinit -u -D && source "+script+
			" && whence -w _pg2s3 _pg2s3_export _pg2s3_manifest_merge && print -r -- ${_comps[pg2s3]}").CombinedOutput()
		if err != nil || !strings.Contains(string(out), "_pg2s3_manifest_merge: function") || !strings.HasSuffix(strings.TrimSpace(string(out)), "_pg2s3") {
			t.Fatalf("zsh did not load the completion: %v\n%s", err, out)
		}
	})
	if r := pg2s3(t, nil, "completion", "powershell"); r.code != 2 || !strings.Contains(r.stderr, "want bash, zsh or fish") {
		t.Errorf("completion powershell: exit %d: %s", r.code, r.stderr)
	}
}

// The man page is made from the flag definitions: every flag of every command, with its variable.
func TestManPage(t *testing.T) {
	r := pg2s3(t, nil, "man")
	if r.code != 0 || !strings.HasPrefix(r.stdout, ".TH PG2S3 1 ") {
		t.Fatalf("man: exit %d: %.200s %s", r.code, r.stdout, r.stderr)
	}
	for _, want := range []string{`\fB\-\-to DEST, \-o DEST\fR`, `\fB\-\-partition\-by COLUMN\fR`, "$PG2S3_PROFILE, $AWS_PROFILE",
		`.SS "pg2s3 manifest merge"`, `\fB\-\-older\-than DURATION\fR`, ".SH ENVIRONMENT", ".SH \"EXIT STATUS\""} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("the man page lacks %q", want)
		}
	}
	help := pg2s3(t, nil, "export", "--help")
	if help.code != 0 || strings.Count(help.stdout, "[$PG2S3_") < 20 {
		t.Fatalf("export --help: exit %d, %d environment variables named:\n%s", help.code, strings.Count(help.stdout, "[$PG2S3_"), help.stdout)
	}
	for _, l := range strings.Split(help.stdout, "\n") {
		if i := strings.Index(l, "[$PG2S3_"); i >= 0 {
			env := strings.TrimSuffix(strings.Fields(l[i+2:])[0], "]")
			env = strings.TrimSuffix(env, ",")
			if !strings.Contains(r.stdout, env) {
				t.Errorf("%s is in export --help but not in the man page", env)
			}
		}
	}
	if man, err := exec.LookPath("man"); err == nil {
		path := filepath.Join(t.TempDir(), "pg2s3.1")
		os.WriteFile(path, []byte(r.stdout), 0o644)
		cmd := exec.Command(man, "--warnings", "-l", path)
		cmd.Env = append(os.Environ(), "MANWIDTH=100", "MANPAGER=cat", "PAGER=cat")
		out, err := cmd.CombinedOutput()
		if err != nil || strings.Contains(string(out), "warning") || !strings.Contains(string(out), "--partition-drop-columns") {
			t.Errorf("man -l: %v\n%.2000s", err, out)
		}
	}
}

// --profile reads the named profile of the shared files, as the aws CLI does, and --ca-bundle
// trusts the CAs of a PEM file for an https endpoint (here a TLS proxy in front of the stack's MinIO).
func TestProfileAndCABundle(t *testing.T) {
	bucket, client := testenv.Stack(t)
	dir := t.TempDir()
	config := filepath.Join(dir, "config")
	creds := filepath.Join(dir, "credentials")
	os.WriteFile(config, []byte("[profile minio]\nregion = us-east-1\n"), 0o600)
	os.WriteFile(creds, []byte("[minio]\naws_access_key_id = "+os.Getenv("AWS_ACCESS_KEY_ID")+
		"\naws_secret_access_key = "+os.Getenv("AWS_SECRET_ACCESS_KEY")+"\n[default]\naws_access_key_id = nobody\naws_secret_access_key = wrong\n"), 0o600)
	env := []string{"AWS_CONFIG_FILE=" + config, "AWS_SHARED_CREDENTIALS_FILE=" + creds, "AWS_ACCESS_KEY_ID=", "AWS_SECRET_ACCESS_KEY="}
	key := testenv.Key(t)
	t.Cleanup(func() { testenv.Remove(t, client, bucket, key) })

	if r := pg2s3(t, env, "export", "-c", "SELECT 1", "--to", "s3://"+bucket+"/"+key, "-q"); r.code != 1 ||
		!strings.Contains(r.stderr, "InvalidAccessKeyId") {
		t.Errorf("the default profile's wrong key: exit %d, want 1 naming InvalidAccessKeyId: %s", r.code, r.stderr)
	}
	if r := pg2s3(t, env, "export", "-c", "SELECT 1", "--to", "s3://"+bucket+"/"+key, "--profile", "minio", "-q"); r.code != 0 {
		t.Errorf("--profile minio: exit %d: %s", r.code, r.stderr)
	}
	if r := pg2s3(t, append(env, "AWS_PROFILE=minio"), "export", "-c", "SELECT 2", "--to", "s3://"+bucket+"/"+key, "-q"); r.code != 0 {
		t.Errorf("AWS_PROFILE=minio: exit %d: %s", r.code, r.stderr)
	}
	if r := pg2s3(t, env, "export", "-c", "SELECT 1", "--to", "s3://"+bucket+"/"+key, "--profile", "nosuch"); r.code != 2 ||
		!strings.Contains(r.stderr, "--profile nosuch: no such profile") {
		t.Errorf("--profile nosuch: exit %d: %s", r.code, r.stderr)
	}

	proxy := httptest.NewUnstartedServer(testenv.StoreProxy(t))
	proxy.TLS = &tls.Config{MinVersion: tls.VersionTLS12}
	proxy.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are the point
	proxy.StartTLS()
	t.Cleanup(proxy.Close)
	ca := filepath.Join(dir, "ca.pem")
	os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: proxy.Certificate().Raw}), 0o644)
	https := []string{"--endpoint-url", proxy.URL, "--path-style"}
	args := append([]string{"export", "-c", "SELECT 3", "--to", "s3://" + bucket + "/" + key, "-q"}, https...)
	if r := pg2s3(t, nil, args...); r.code != 1 || !strings.Contains(r.stderr, "certificate") {
		t.Errorf("an untrusted certificate: exit %d, want 1 naming the certificate: %s", r.code, r.stderr)
	}
	if r := pg2s3(t, nil, append(args, "--ca-bundle", ca)...); r.code != 0 {
		t.Errorf("--ca-bundle: exit %d: %s", r.code, r.stderr)
	}
	if got := string(testenv.Get(t, client, bucket, key)); got != "3\n" {
		t.Errorf("the object through the TLS proxy holds %q", got)
	}
	if r := pg2s3(t, []string{"AWS_CA_BUNDLE=" + ca}, args...); r.code != 0 {
		t.Errorf("AWS_CA_BUNDLE: exit %d: %s", r.code, r.stderr)
	}
	if r := pg2s3(t, nil, append(args, "--ca-bundle", config)...); r.code != 2 || !strings.Contains(r.stderr, "--ca-bundle "+config+": holds no PEM certificate") {
		t.Errorf("--ca-bundle of a non-PEM file: exit %d: %s", r.code, r.stderr)
	}
}

// The libraries never name a flag of pg2s3's (their errors name settings, which the command line
// words as flags; the clean-up commands after a failure are worded there too): a library is used by
// programs that have no flags. A loader's shell command (package preset) names the loader's and
// the aws CLI's own options, which is what it prints.
func TestLibrariesNameNoFlag(t *testing.T) {
	man := pg2s3(t, nil, "man")
	if man.code != 0 {
		t.Fatalf("pg2s3 man: exit %d: %s", man.code, man.stderr)
	}
	flags := map[string]bool{}
	for _, m := range regexp.MustCompile(`\\fB\\-\\-((?:[a-z0-9]|\\-)+)`).FindAllStringSubmatch(man.stdout, -1) {
		flags[strings.ReplaceAll(m[1], `\-`, "-")] = true
	}
	if len(flags) < 40 {
		t.Fatalf("the man page names %d flags: the test cannot tell what a flag is", len(flags))
	}
	var found []string
	mention := regexp.MustCompile(`--([a-z0-9][a-z0-9_-]*)`) // bq load --null_marker is not --null
	for _, dir := range []string{"engine", "columnar", "preset", "sink", "upload", "copyout", "metrics", "bench", "setting"} {
		files, _ := filepath.Glob(filepath.Join(dir, "*.go"))
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			for i, line := range strings.Split(string(b), "\n") {
				if dir == "preset" && strings.Contains(line, "ShellQuote(") { // a loader's shell command
					continue
				}
				for _, m := range mention.FindAllStringSubmatch(line, -1) {
					if flags[m[1]] {
						found = append(found, fmt.Sprintf("%s:%d: --%s", f, i+1, m[1]))
					}
				}
			}
		}
	}
	if len(found) > 0 {
		t.Errorf("%d places in the libraries name a flag:\n%s", len(found), strings.Join(found, "\n"))
	}
}
