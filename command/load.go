package command

import (
	"cmp"
	"os"
	"path"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/pg2s3/pg2s3/copyout"
	"github.com/pg2s3/pg2s3/engine"
	"github.com/pg2s3/pg2s3/preset"
)

// loadStatement is the statement that loads what the export wrote (to dest) with the preset's loader.
func loadStatement(c *cli.Context, cfg engine.Config, loader, dest string) string {
	table := c.String("load-table")
	if table == "" && len(cfg.Tables) > 0 {
		table = cfg.Tables[0]
	}
	if table == "" {
		table = "my_table"
	}
	return loadStatementFor(c, cfg, loader, dest, table)
}

// loadStatementFor is loadStatement for a given table name.
func loadStatementFor(c *cli.Context, cfg engine.Config, loader, dest, table string) string {
	l := loadFor(c, cfg, loader, dest, table)
	if loader == "athena" && cfg.To.IsPrefix() { // before the export: the first table's folder (schema public unless named)
		schema, name, ok := strings.Cut(table, ".")
		if !ok {
			schema, name = "public", table
		}
		folder, _ := engine.TableFolder(*cfg.To.S3, cfg.KeyTemplate(), schema, name)
		l.Folder = folder.String()
		l.Partitions = partitionNames(cfg)
	}
	return preset.Statement(l)
}

// loadFor describes what the export writes (to dest) for the loader's statement.
func loadFor(c *cli.Context, cfg engine.Config, loader, dest, table string) preset.Load {
	endpoint := cfg.S3.Endpoint
	if endpoint == "" {
		endpoint = os.Getenv("AWS_ENDPOINT_URL_S3")
	}
	if endpoint == "" {
		endpoint = os.Getenv("AWS_ENDPOINT_URL")
	}
	return preset.Load{
		Loader: loader, URL: dest, Endpoint: endpoint, Region: cfg.S3.Region, Table: table,
		Header: cfg.CSV.Header, Null: cfg.CSV.Null, Delimiter: cfg.CSV.Delimiter,
		ForceNotNull: c.StringSlice("force-not-null"), Compress: cfg.Compress.Algorithm, Parquet: cfg.Parquet != nil,
	}
}

// partitionNames are the --partition-by levels' names.
func partitionNames(cfg engine.Config) []string {
	var names []string
	for _, p := range cfg.PartitionBy {
		names = append(names, p.Name)
	}
	return names
}

// multiLoadStatements is one load statement per table: Redshift reads the table's own manifest,
// the others the table's folder (a prefix or a glob of its objects).
func multiLoadStatements(c *cli.Context, cfg engine.Config, loader string, m *engine.Manifest) []string {
	var out []string
	for _, t := range m.Tables {
		schema, name := unquoteTable(t.Name)
		folder, _ := engine.TableFolder(*cfg.To.S3, cfg.KeyTemplate(), schema, name)
		ext := ".csv" + cfg.Compress.Extension()
		if cfg.Parquet != nil {
			ext = ".parquet"
		}
		url := folder.String() + "*" + ext
		hive := ""
		if len(cfg.PartitionBy) > 0 {
			url, hive = folder.String()+"**/*"+ext, folder.String()
		}
		switch loader {
		case "redshift":
			url = engine.TableManifestURL(*cfg.To.S3, schema, name).String()
		case "snowflake":
			url = folder.String()
		case "bigquery":
			url = folder.String() + "*"
		}
		if loader == "postgres" { // psql reads one stream: one command per object
			for _, o := range m.Objects {
				if o.Table == t.Name {
					out = append(out, loadStatementFor(c, cfg, loader, o.URL, loadName(schema, name)))
				}
			}
			continue
		}
		l := loadFor(c, cfg, loader, url, loadName(schema, name))
		l.HiveRoot, l.Folder, l.Partitions = hive, folder.String(), partitionNames(cfg)
		if it := t.Iceberg; it != nil {
			ns := cmp.Or(cfg.Namespace, schema)
			l.IcebergMetadata, l.IcebergNamespace, l.IcebergTable = it.Metadata, ns, name
			l.Folder = strings.TrimSuffix(it.Metadata, "metadata/"+path.Base(it.Metadata))
		}
		l.Columns = []preset.Column{}
		for _, col := range t.Columns {
			l.Columns = append(l.Columns, preset.Column{Name: col.Name, Parquet: col.Parquet})
		}
		stmt := preset.Statement(l)
		if loader == "redshift" {
			stmt = strings.Replace(stmt, " IAM_ROLE", " MANIFEST IAM_ROLE", 1)
		}
		out = append(out, stmt)
	}
	return out
}

// unquoteTable splits a quoted "schema"."table" name.
func unquoteTable(q string) (schema, table string) {
	parts := strings.SplitN(q, `"."`, 2)
	if len(parts) != 2 {
		return "", q
	}
	un := func(s string) string { return strings.ReplaceAll(strings.Trim(s, `"`), `""`, `"`) }
	return un(parts[0]), un(parts[1])
}

// loadName names a table for a load statement: schema.table, quoted where needed.
func loadName(schema, table string) string {
	q := func(s string) string {
		if s != "" && strings.IndexFunc(s, func(r rune) bool { return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '_') }) < 0 {
			return s
		}
		return copyout.QuoteIdent(s)
	}
	return q(schema) + "." + q(table)
}
