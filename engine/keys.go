package engine

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/pg2s3/pg2s3/upload"
)

var placeholder = regexp.MustCompile(`\{(schema|table|chunk|split)(?::(0\d+))?\}`)

// anyPlaceholder finds every {…} of a template, known or not.
var anyPlaceholder = regexp.MustCompile(`\{[^{}]*\}`)

// KeyName encodes a schema or table name for a key, so that distinct tables never share a key
// by default: '%', '/', '.', '\' and control characters become %XX (as in URLs), everything else
// (letters of any script, digits, spaces, punctuation) stays. "a.b".c and a."b.c" become
// a%2Eb.c and a.b%2Ec under the default template {schema}.{table}.
func KeyName(name string) string {
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if c < 0x20 || c == 0x7f || c == '%' || c == '/' || c == '.' || c == '\\' {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// objectKey expands the template for split split of chunk chunk of table t.
func objectKey(template string, t *Table, chunk, split int) string {
	return placeholder.ReplaceAllStringFunc(template, func(m string) string {
		sub := placeholder.FindStringSubmatch(m)
		switch sub[1] {
		case "schema":
			return KeyName(t.Schema)
		case "table":
			return KeyName(t.Name)
		}
		n := chunk
		if sub[1] == "split" {
			n = split
		}
		if sub[2] != "" {
			width, _ := strconv.Atoi(sub[2])
			return fmt.Sprintf("%0*d", width, n)
		}
		return strconv.Itoa(n)
	})
}

// checkTemplate refuses a template that cannot give keys: empty, absolute, or with a placeholder
// it does not know.
func checkTemplate(t string) error {
	if strings.TrimSpace(placeholder.ReplaceAllString(t, "")) == "" && !placeholder.MatchString(t) {
		return &ConfigError{Field: "Template", Value: t, Reason: "gives empty keys"}
	}
	if strings.HasPrefix(t, "/") {
		return &ConfigError{Field: "Template", Value: t, Reason: "keys must not start with /"}
	}
	for _, m := range anyPlaceholder.FindAllString(t, -1) {
		if !placeholder.MatchString(m) {
			return &ConfigError{Field: "Template", Value: t, Reason: fmt.Sprintf(
				"unknown placeholder %s (known: {schema} {table} {chunk} {split}, with an optional width as {chunk:05})", m)}
		}
	}
	return nil
}

// KeyCollisionError is two things of one run that would be written to the same key: the second
// would silently replace the first.
type KeyCollisionError struct {
	URL  string
	A, B string // what each one is
}

func (e *KeyCollisionError) Error() string {
	return fmt.Sprintf("%s and %s would both be written to %s", e.A, e.B, e.URL)
}

// checkKeys computes, before any COPY, every key the run will write and refuses any two that
// collide: two tables whose names give one key, a template without {chunk} for a chunked table or
// without {split} when objects split, a manifest named like a data object.
func (r *run) checkKeys() error {
	cfg := r.cfg
	if !cfg.To.IsPrefix() {
		return nil
	}
	type key struct {
		url   upload.URL
		what  string
		chunk int // index into r.plan; -1 for manifests
	}
	var keys []key
	var patterns []*regexp.Regexp // per chunk, every split's key, when objects split
	splits := cfg.MaxRows > 0 || cfg.MaxObjectSize > 0
	for i, c := range r.plan {
		what := fmt.Sprintf("table %s chunk %d", c.Table, c.Index)
		first, _ := upload.ParseObject(r.target(c, 0).String())
		keys = append(keys, key{first, what, i})
		if splits {
			if second := r.target(c, 1).String(); second == first.String() {
				return &KeyCollisionError{URL: second, A: what + " (its first object)", B: what + " (its second, when it splits)"}
			}
			patterns = append(patterns, splitPattern(cfg.Template, c, cfg.Compress.Extension(), cfg.To.S3.Key))
		}
	}
	keys = append(keys, key{r.manifestURL, "the manifest", -1})
	if cfg.TableManifests {
		for _, t := range r.tables {
			keys = append(keys, key{TableManifestURL(*cfg.To.S3, t.Schema, t.Name), "the manifest of table " + t.String(), -1})
		}
	}
	seen := map[string]string{}
	for _, k := range keys {
		if prev, ok := seen[k.url.Key]; ok {
			return &KeyCollisionError{URL: k.url.String(), A: prev, B: k.what}
		}
		seen[k.url.Key] = k.what
		for i, p := range patterns {
			if i != k.chunk && p.MatchString(k.url.Key) {
				c := r.plan[i]
				return &KeyCollisionError{URL: k.url.String(), A: fmt.Sprintf("table %s chunk %d (one of its splits)", c.Table, c.Index), B: k.what}
			}
		}
	}
	return nil
}

// splitPattern matches the key of every split of chunk c.
func splitPattern(template string, c Chunk, ext, prefix string) *regexp.Regexp {
	var b strings.Builder
	b.WriteString("^" + regexp.QuoteMeta(prefix))
	last := 0
	for _, loc := range placeholder.FindAllStringSubmatchIndex(template, -1) {
		b.WriteString(regexp.QuoteMeta(template[last:loc[0]]))
		m := template[loc[0]:loc[1]]
		if strings.HasPrefix(m, "{split") {
			b.WriteString(`\d+`)
		} else {
			b.WriteString(regexp.QuoteMeta(objectKey(m, c.Table, c.Index, 0)))
		}
		last = loc[1]
	}
	b.WriteString(regexp.QuoteMeta(template[last:]+ext) + "$")
	return regexp.MustCompile(b.String())
}
