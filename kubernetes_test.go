package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/pg2s3/pg2s3/internal/testenv"
)

// docs/kubernetes/ as a person runs it, but with processes for pods: the commands and environment
// come from the manifests themselves (container args with Kubernetes' $(VAR) expansion, envFrom of
// the ConfigMap and the Secret, JOB_COMPLETION_INDEX), so the files cannot drift from what is
// tested. Only the addresses change: the ConfigMap's bucket and schema, and the Secret's database.

type k8sObject struct {
	Kind     string `yaml:"kind"`
	Metadata struct {
		Name string `yaml:"name"`
	} `yaml:"metadata"`
	Data       map[string]string `yaml:"data"`
	StringData map[string]string `yaml:"stringData"`
	Spec       struct {
		Completions    int         `yaml:"completions"`
		Parallelism    int         `yaml:"parallelism"`
		CompletionMode string      `yaml:"completionMode"`
		Template       podTemplate `yaml:"template"`
		JobTemplate    struct {    // a CronJob's
			Spec struct {
				Template podTemplate `yaml:"template"`
			} `yaml:"spec"`
		} `yaml:"jobTemplate"`
	} `yaml:"spec"`
}

type podTemplate struct {
	Spec struct {
		Containers []struct {
			Args    []string `yaml:"args"`
			EnvFrom []struct {
				ConfigMapRef *struct{ Name string } `yaml:"configMapRef"`
				SecretRef    *struct{ Name string } `yaml:"secretRef"`
			} `yaml:"envFrom"`
			Env []struct{ Name, Value string } `yaml:"env"`
		} `yaml:"containers"`
	} `yaml:"spec"`
}

func readK8s(t *testing.T, file string) []k8sObject {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("docs", "kubernetes", file))
	if err != nil {
		t.Fatal(err)
	}
	var out []k8sObject
	dec := yaml.NewDecoder(bytes.NewReader(b))
	for {
		var o k8sObject
		if err := dec.Decode(&o); errors.Is(err, io.EOF) {
			return out
		} else if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		out = append(out, o)
	}
}

// k8sPod is one pod of a Job, as a process: its arguments and its environment.
type k8sPod struct {
	args []string
	env  map[string]string
}

var k8sVar = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// pod builds the process of a Job's pod: envFrom first, then env, then what Kubernetes adds, and
// $(VAR) in args expanded from that environment (an unknown one is left as it is, as Kubernetes does).
func (o k8sObject) pod(t *testing.T, objects map[string]map[string]string, extra map[string]string) k8sPod {
	return o.podWith(t, objects, extra, nil)
}

// podWith is pod with some of the container's own env values replaced (the test's addresses).
func (o k8sObject) podWith(t *testing.T, objects map[string]map[string]string, extra, replace map[string]string) k8sPod {
	t.Helper()
	tpl := o.Spec.Template
	if o.Kind == "CronJob" {
		tpl = o.Spec.JobTemplate.Spec.Template
	}
	if len(tpl.Spec.Containers) != 1 {
		t.Fatalf("%s %s: want one container", o.Kind, o.Metadata.Name)
	}
	c := tpl.Spec.Containers[0]
	env := map[string]string{}
	for _, from := range c.EnvFrom {
		name := ""
		if from.ConfigMapRef != nil {
			name = from.ConfigMapRef.Name
		}
		if from.SecretRef != nil {
			name = from.SecretRef.Name
		}
		data, ok := objects[name]
		if !ok {
			t.Fatalf("job %s: envFrom %q is not in the manifests", o.Metadata.Name, name)
		}
		for k, v := range data {
			env[k] = v
		}
	}
	for _, e := range c.Env {
		env[e.Name] = e.Value
		if v, ok := replace[e.Name]; ok {
			env[e.Name] = v
		}
	}
	for k, v := range extra {
		env[k] = v
	}
	var args []string
	for _, a := range c.Args {
		args = append(args, k8sVar.ReplaceAllStringFunc(a, func(m string) string {
			if v, ok := env[m[2:len(m)-1]]; ok {
				return v
			}
			return m
		}))
	}
	return k8sPod{args: args, env: env}
}

// command is the pod's process: the test binary with only the pod's environment, plus what a
// container would have anyway (PATH, HOME) and the stack's S3 credentials (the pods' IAM role).
func (p k8sPod) command(ctx context.Context) *exec.Cmd {
	cmd := exec.CommandContext(ctx, binary, p.args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.TempDir(),
		"AWS_ACCESS_KEY_ID=" + os.Getenv("AWS_ACCESS_KEY_ID"), "AWS_SECRET_ACCESS_KEY=" + os.Getenv("AWS_SECRET_ACCESS_KEY"),
		"AWS_ENDPOINT_URL=" + testenv.Endpoint(), "AWS_CA_BUNDLE=" + os.Getenv("AWS_CA_BUNDLE")}
	for k, v := range p.env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	return cmd
}

func TestKubernetesFlowLocally(t *testing.T) {
	bucket, client := testenv.Stack(t)
	testenv.Psql(t, `DROP SCHEMA IF EXISTS k8s_app CASCADE; CREATE SCHEMA k8s_app;
		CREATE TABLE k8s_app.orders AS SELECT g AS id, md5(g::text) AS note FROM generate_series(1, 60000) g;
		CREATE TABLE k8s_app.customers AS SELECT g AS id, 'c' || g AS name FROM generate_series(1, 3000) g;
		CREATE TABLE k8s_app.events AS SELECT g AS id, now() AS at FROM generate_series(1, 20000) g;`)
	t.Cleanup(func() { testenv.Psql(t, "DROP SCHEMA IF EXISTS k8s_app CASCADE") })
	prefix := "s3://" + bucket + "/" + testenv.Prefix(t, client, bucket)

	objects := map[string]map[string]string{}
	var jobs []k8sObject
	for _, f := range []string{"00-config.yaml", "01-snapshot.yaml", "02-export.yaml", "03-merge.yaml"} {
		for _, o := range readK8s(t, f) {
			switch o.Kind {
			case "ConfigMap":
				objects[o.Metadata.Name] = o.Data
			case "Secret":
				objects[o.Metadata.Name] = o.StringData
			case "Job":
				jobs = append(jobs, o)
			}
		}
	}
	cfg := objects["pg2s3-run"]
	if cfg == nil || objects["pg2s3-database"]["DATABASE_URL"] == "" || len(jobs) != 3 {
		t.Fatalf("the manifests lack the ConfigMap, the Secret or the three Jobs")
	}
	// The addresses of this machine's stack instead of the example's; the rest as written. The
	// example's tables are large; this one's are split into chunks that the shards share.
	cfg["PG2S3_TO"] = prefix
	cfg["PG2S3_SNAPSHOT_ID_TO"] = prefix + "_snapshot-id"
	cfg["PG2S3_SNAPSHOT_FROM"] = prefix + "_snapshot-id"
	cfg["PG2S3_SCHEMA"] = "k8s_app"
	cfg["AWS_REGION"] = "us-east-1"
	cfg["PG2S3_CHUNK_SIZE"] = "256KiB"
	objects["pg2s3-database"]["DATABASE_URL"] = testenv.DSN(t)
	holderJob, exportJob, mergeJob := jobs[0], jobs[1], jobs[2]
	shards, err := strconv.Atoi(cfg["SHARDS"])
	if err != nil || exportJob.Spec.Completions != shards || exportJob.Spec.CompletionMode != "Indexed" {
		t.Fatalf("SHARDS %q and the export Job's completions %d (%s) must agree", cfg["SHARDS"], exportJob.Spec.Completions, exportJob.Spec.CompletionMode)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()

	// Step 1: the holder publishes the ID and prints it.
	holder := holderJob.pod(t, objects, nil).command(ctx)
	t.Logf("step 1: pg2s3 %s", strings.Join(holder.Args[1:], " "))
	stdout, _ := holder.StdoutPipe()
	var holderErr bytes.Buffer
	holder.Stderr = &holderErr
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer holder.Process.Kill()
	id, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("the holder printed no ID: %v\n%s", err, holderErr.String())
	}
	id = strings.TrimSpace(id)
	idKey := strings.TrimPrefix(cfg["PG2S3_SNAPSHOT_ID_TO"], "s3://"+bucket+"/")
	if got := strings.TrimSpace(string(testenv.Get(t, client, bucket, idKey))); got != id {
		t.Fatalf("published ID %q, printed %q", got, id)
	}
	// A second holder (a restarted pod) must not replace the ID with another instant's.
	second := holderJob.pod(t, objects, nil).command(ctx)
	if out, err := second.CombinedOutput(); err == nil || !strings.Contains(string(out), "snapshot ID") {
		t.Errorf("a second holder: %v\n%s", err, out)
	}
	if got := strings.TrimSpace(string(testenv.Get(t, client, bucket, idKey))); got != id {
		t.Errorf("the second holder replaced the ID: %q", got)
	}
	// Rows committed after the snapshot are not in the export.
	want := map[string][]string{}
	for _, tbl := range []string{"orders", "customers", "events"} {
		want[`"k8s_app".`+strconv.Quote(tbl)] = sortedLines(testenv.Psql(t, "COPY k8s_app."+tbl+" TO STDOUT WITH (FORMAT csv)"))
	}
	testenv.Psql(t, "INSERT INTO k8s_app.orders VALUES (0, 'after the snapshot'); DELETE FROM k8s_app.customers WHERE id <= 10")

	// Step 2: the Indexed Job's pods, all at once.
	var pods []*exec.Cmd
	var outs []*bytes.Buffer
	for i := 0; i < exportJob.Spec.Completions; i++ {
		cmd := exportJob.pod(t, objects, map[string]string{"JOB_COMPLETION_INDEX": strconv.Itoa(i)}).command(ctx)
		t.Logf("step 2, pod %d: pg2s3 %s", i, strings.Join(cmd.Args[1:], " "))
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pods, outs = append(pods, cmd), append(outs, &out)
	}
	for i, cmd := range pods {
		if err := cmd.Wait(); err != nil {
			t.Fatalf("pod %d: %v\n%s", i, err, outs[i])
		}
	}
	// Step 3: the merge.
	merge := mergeJob.pod(t, objects, nil).command(ctx)
	t.Logf("step 3: pg2s3 %s", strings.Join(merge.Args[1:], " "))
	if out, err := merge.CombinedOutput(); err != nil {
		t.Fatalf("merge: %v\n%s", err, out)
	}
	// Step 4: the release (kubectl delete sends SIGTERM).
	t.Logf("step 4: SIGTERM to the holder")
	holder.Process.Signal(syscall.SIGTERM)
	if err := holder.Wait(); err != nil {
		t.Errorf("the holder, stopped: %v\n%s", err, holderErr.String())
	}
	if keys := testenv.ListKeys(t, client, bucket, idKey); len(keys) != 0 {
		t.Errorf("the released snapshot's ID is still published: %v", keys)
	}

	m := readManifest(t, client, prefix+"manifest.json")
	if m.Snapshot.ID != id {
		t.Errorf("the manifest's snapshot %s, the holder's %s", m.Snapshot.ID, id)
	}
	chunks := map[int]bool{}
	for _, o := range m.Objects {
		if o.Table == `"k8s_app"."orders"` {
			chunks[o.Chunk] = true
		}
	}
	if len(chunks) < shards {
		t.Errorf("orders has %d chunks; the test wants at least one per shard (%d)", len(chunks), shards)
	}
	got := linesByTable(t, client, m) // decompressed by extension: the ConfigMap asks for zstd
	for tbl, lines := range want {
		if !slices.Equal(got[tbl], lines) {
			t.Errorf("%s: %d lines exported, %d in the snapshot", tbl, len(got[tbl]), len(lines))
		}
	}
	if len(got) != len(want) {
		t.Errorf("tables exported: %d, want %d", len(got), len(want))
	}
}

func sortedLines(b []byte) []string {
	l := strings.SplitAfter(string(b), "\n")
	if l[len(l)-1] == "" {
		l = l[:len(l)-1]
	}
	slices.Sort(l)
	return l
}

// The incremental CronJob's pod, run twice as the schedule would, with changes between the runs:
// the second run exports only them, and the metrics reach the Pushgateway.
func TestKubernetesIncrementalCronJobLocally(t *testing.T) {
	bucket, client := testenv.Stack(t)
	gw := pushgateway(t)
	testenv.Psql(t, `DROP SCHEMA IF EXISTS k8s_inc CASCADE; CREATE SCHEMA k8s_inc;
		CREATE TABLE k8s_inc.items (id int PRIMARY KEY, v text, updated_at timestamptz NOT NULL DEFAULT clock_timestamp());
		INSERT INTO k8s_inc.items (id, v) SELECT g, 'v' || g FROM generate_series(1, 2000) g;
		CREATE TABLE k8s_inc.codes AS SELECT g AS code FROM generate_series(1, 10) g;`)
	t.Cleanup(func() { testenv.Psql(t, "DROP SCHEMA IF EXISTS k8s_inc CASCADE") })
	t.Cleanup(func() {
		req, _ := http.NewRequest(http.MethodDelete, gw+"/metrics/job/pg2s3-incremental", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
		}
	})
	base := "s3://" + bucket + "/" + testenv.Prefix(t, client, bucket)
	objects := map[string]map[string]string{}
	var cron *k8sObject
	for _, f := range []string{"00-config.yaml", "10-incremental-cronjob.yaml"} {
		for _, o := range readK8s(t, f) {
			switch o.Kind {
			case "Secret":
				objects[o.Metadata.Name] = o.StringData
			case "CronJob":
				cron = &o
			}
		}
	}
	if cron == nil {
		t.Fatal("10-incremental-cronjob.yaml has no CronJob")
	}
	objects["pg2s3-database"]["DATABASE_URL"] = testenv.DSN(t)
	replace := map[string]string{"INCREMENTAL_TO": base, "PUSHGATEWAY": gw, "PG2S3_SCHEMA": "k8s_inc", "AWS_REGION": "us-east-1"}
	runPod := func() {
		t.Helper()
		cmd := cron.podWith(t, objects, nil, replace).command(context.Background())
		t.Logf("pg2s3 %s", strings.Join(cmd.Args[1:], " "))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("the CronJob's pod: %v\n%s", err, out)
		}
	}
	runPod()
	testenv.Psql(t, `UPDATE k8s_inc.items SET v = 'changed', updated_at = clock_timestamp() WHERE id <= 25; INSERT INTO k8s_inc.items (id, v) VALUES (5000, 'new')`)
	runPod()
	states := runStates(t, base)
	if len(states) != 2 {
		t.Fatalf("%d runs recorded, want 2", len(states))
	}
	m := readManifest(t, client, states[1].Manifest)
	lines := linesByTable(t, client, m)
	if got := len(lines[`"k8s_inc"."items"`]); got != 26 {
		t.Errorf("the second run exported %d rows of items, want the 26 changed", got)
	}
	if got := len(lines[`"k8s_inc"."codes"`]); got != 10 {
		t.Errorf("codes has no updated_at column and is exported whole each run: %d rows, want 10", got)
	}
	pushed := readPushgatewayJob(t, gw, "pg2s3-incremental")
	if pushed["pg2s3_success"][""] != 1 || pushed["pg2s3_rows"]["k8s_inc.items"] != 26 {
		t.Errorf("the Pushgateway has success %v and items rows %v, want 1 and 26", pushed["pg2s3_success"][""], pushed["pg2s3_rows"]["k8s_inc.items"])
	}
}
