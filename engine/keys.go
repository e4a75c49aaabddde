package engine

import (
	"context"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/pg2s3/pg2s3/upload"
)

var placeholder = regexp.MustCompile(`\{(schema|table|chunk|split|partition)(?::(0\d+))?\}`)

// anyPlaceholder finds every {…} of a template, known or not.
var anyPlaceholder = regexp.MustCompile(`\{[^{}]*\}`)

// keyName encodes a schema or table name for a key, so that distinct tables never share a key
// by default: '%', '/', '.', '\' and control characters become %XX (as in URLs), everything else
// (letters of any script, digits, spaces, punctuation) stays. "a.b".c and a."b.c" become
// a%2Eb.c and a.b%2Ec under the default template {schema}.{table}.
func keyName(name string) string { return percentEscape(name, `%/.\`) }

// percentEscape writes control characters, DEL and the bytes of special as %XX (as in URLs).
func percentEscape(s, special string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == 0x7f || strings.IndexByte(special, c) >= 0 {
			fmt.Fprintf(&b, "%%%02X", c)
			continue
		}
		b.WriteByte(c)
	}
	return b.String()
}

// objectKey expands the template for split split of chunk chunk of table t, in partition (its
// name=value/ path; "" leaves {partition} as it is).
func objectKey(template string, t *Table, chunk, split int, partition string) string {
	return placeholder.ReplaceAllStringFunc(template, func(m string) string {
		sub := placeholder.FindStringSubmatch(m)
		switch sub[1] {
		case "schema":
			return keyName(t.Schema)
		case "table":
			return keyName(t.Name)
		case "partition":
			if partition == "" {
				return m
			}
			return partition
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
		return &ConfigError{Name: "Template", Value: t, Reason: "gives empty keys"}
	}
	if strings.HasPrefix(t, "/") {
		return &ConfigError{Name: "Template", Value: t, Reason: "keys must not start with /"}
	}
	// A placeholder never expands to "." or ".." (names are escaped, numbers are digits).
	if upload.DotSegment(placeholder.ReplaceAllString(t, "x")) {
		return &ConfigError{Name: "Template", Value: t, Reason: "gives keys with a \".\" or \"..\" segment: " + upload.DotSegmentReason()}
	}
	for _, m := range anyPlaceholder.FindAllString(t, -1) {
		if !placeholder.MatchString(m) {
			return &ConfigError{Name: "Template", Value: t, Reason: fmt.Sprintf(
				"unknown placeholder %s (known: {schema} {table} {chunk} {split} {partition}, with an optional width as {chunk:05})", m)}
		}
	}
	return nil
}

// checkKeys computes, before any COPY, every key the run will write and refuses any two that
// collide: two tables whose names give one key, a template without {chunk} for a chunked table or
// without {split} when objects split, a manifest named like a data object.
func (p *Plan) checkKeys() error {
	cfg := p.cfg
	if !cfg.To.IsPrefix() {
		return nil
	}
	type key struct {
		url   upload.URL
		what  string
		chunk int // index into p.chunks; -1 for manifests
	}
	var keys []key
	patterns := &splitPatterns{byLiteral: map[string][]int{}} // per chunk, every split's key, when objects split
	splits := cfg.MaxRows > 0 || cfg.MaxObjectSize > 0 || len(cfg.PartitionBy) > 0
	for i, c := range p.chunks {
		what := fmt.Sprintf("table %s chunk %d", c.Table, c.Index)
		first, _ := upload.ParseObject(p.target(c, 0, "", nil).String())
		keys = append(keys, key{first, what, i})
		if splits {
			if second := p.target(c, 1, "", nil).String(); second == first.String() {
				return &KeyCollisionError{URL: second, A: what + " (its first object)", B: what + " (its second, when it splits)"}
			}
			patterns.add(splitPattern(p.templateOf(c), c, cfg.Compress.Extension(), cfg.To.S3.Key))
		}
	}
	keys = append(keys, key{p.manifestURL, "the manifest", -1})
	if cfg.TableManifests {
		for _, t := range p.tables {
			keys = append(keys, key{TableManifestURL(*cfg.To.S3, t.Schema, t.Name), "the manifest of table " + t.String(), -1})
		}
	}
	seen := map[string]string{}
	defer func() { p.keys, p.patterns = seen, patterns }()
	for _, k := range keys {
		if prev, ok := seen[k.url.Key]; ok {
			return &KeyCollisionError{URL: k.url.String(), A: prev, B: k.what}
		}
		seen[k.url.Key] = k.what
		if i, ok := patterns.match(k.url.Key, k.chunk); ok {
			c := p.chunks[i]
			return &KeyCollisionError{URL: k.url.String(), A: fmt.Sprintf("table %s chunk %d (one of its splits)", c.Table, c.Index), B: k.what}
		}
	}
	return nil
}

// splitPatterns are the keys of every split of each chunk, indexed by the literal text before the
// split number, so that matching a key costs one map lookup per character of the key rather than
// one regular expression per chunk.
type splitPatterns struct {
	res       []*regexp.Regexp // one per chunk, in plan order
	byLiteral map[string][]int // literal prefix -> indexes into res
}

func (s *splitPatterns) add(re *regexp.Regexp, literal string) {
	s.byLiteral[literal] = append(s.byLiteral[literal], len(s.res))
	s.res = append(s.res, re)
}

// match returns the chunk (other than skip) one of whose splits would be written to key.
func (s *splitPatterns) match(key string, skip int) (int, bool) {
	for l := 0; l <= len(key) && s != nil && len(s.res) > 0; l++ {
		for _, i := range s.byLiteral[key[:l]] {
			if i != skip && s.res[i].MatchString(key) {
				return i, true
			}
		}
	}
	return 0, false
}

// splitPattern matches the key of every split of chunk c, and returns the literal text of those
// keys before the split number.
func splitPattern(template string, c Chunk, ext, prefix string) (*regexp.Regexp, string) {
	var b strings.Builder
	literal, inLiteral := prefix, true
	b.WriteString("^" + regexp.QuoteMeta(prefix))
	last := 0
	for _, loc := range placeholder.FindAllStringSubmatchIndex(template, -1) {
		text := template[last:loc[0]]
		b.WriteString(regexp.QuoteMeta(text))
		m := template[loc[0]:loc[1]]
		if strings.HasPrefix(m, "{split") || m == "{partition}" {
			if m == "{partition}" {
				b.WriteString(`.+`)
			} else {
				b.WriteString(`\d+`)
			}
			if inLiteral {
				literal += text
			}
			inLiteral = false
		} else {
			v := objectKey(m, c.Table, c.Index, 0, "")
			b.WriteString(regexp.QuoteMeta(v))
			if inLiteral {
				literal += text + v
			}
		}
		last = loc[1]
	}
	if inLiteral {
		literal += template[last:] + ext
	}
	b.WriteString(regexp.QuoteMeta(template[last:]+ext) + "$")
	return regexp.MustCompile(b.String()), literal
}

// wouldWrite says whether the run writes key (a first object, a manifest, or any split).
func (p *Plan) wouldWrite(key string) bool {
	if _, ok := p.keys[key]; ok {
		return true
	}
	_, ok := p.patterns.match(key, -1)
	return ok
}

// checkPrefix refuses, before any COPY, a prefix that already holds objects (for a shard: objects
// it would write), unless the run may overwrite them or clean the path.
func (p *Plan) checkPrefix(ctx context.Context) error {
	cfg := p.cfg
	// An Iceberg run's files carry its token, and its tables' metadata says which are current.
	if !cfg.To.IsPrefix() || cfg.Overwrite || cfg.CleanPath || cfg.TableFormat == "iceberg" {
		return nil
	}
	var found string
	err := p.listPrefix(ctx, func(key string) bool {
		if !cfg.Shard.enabled() || p.wouldWrite(key) {
			found = key
			return false
		}
		return true
	})
	if err != nil {
		if upload.Code(err) == "AccessDenied" {
			return fmt.Errorf("%w (pg2s3 lists a prefix destination to make sure it does not mix two runs; "+
				"a role that may not list it can write with Config.Overwrite, which skips the check)", err)
		}
		return err
	}
	if found != "" {
		return &PrefixInUseError{Prefix: cfg.To.S3.String(), Key: cfg.To.S3.Bucket + "/" + found, Shard: cfg.Shard.enabled()}
	}
	return nil
}

// listPrefix calls each with every key under the destination prefix until it returns false.
func (p *Plan) listPrefix(ctx context.Context, each func(key string) bool) error {
	return p.store.List(ctx, *p.cfg.To.S3, "list objects", each)
}

// cleanPath deletes every object under the prefix that this run did not write, after the run
// succeeded, so that the prefix holds exactly this run's objects.
func (r *run) cleanPath(ctx context.Context, m *Manifest) error {
	mine := map[string]bool{r.manifestURL.Key: true}
	for _, o := range m.Objects {
		u, _ := upload.ParseObject(o.URL)
		mine[u.Key] = true
	}
	if r.cfg.TableManifests {
		for _, t := range r.tables {
			mine[TableManifestURL(*r.cfg.To.S3, t.Schema, t.Name).Key] = true
		}
	}
	var stale []string
	if err := r.listPrefix(ctx, func(key string) bool {
		if !mine[key] {
			stale = append(stale, key)
		}
		return true
	}); err != nil {
		return err
	}
	var failed []string
	for _, k := range stale {
		if err := r.delete(ctx, Object{URL: upload.URL{Bucket: r.cfg.To.S3.Bucket, Key: k}.String()}); err != nil {
			failed = append(failed, k)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("the run is complete, but %d objects of earlier runs under %s could not be deleted: %s",
			len(failed), r.cfg.To.S3, strings.Join(failed, " "))
	}
	r.cfg.Logger.Debug("cleaned the path", "prefix", r.cfg.To.S3.String(), "deleted", len(stale))
	return nil
}
