// Package preset holds the export settings each data-warehouse loader reads best, and the
// statement that loads what pg2s3 wrote into it. A preset only sets defaults: flags given on the
// command line win.
//
// The choices, and why:
//
//   - postgres: csv, no header, no compression. COPY ... FROM reads exactly what COPY ... TO wrote
//     (NULL is an unquoted empty field, ” is ""), so the round trip is exact; psql's \copy reads
//     plain files, so the object is not compressed.
//   - duckdb: csv with a header, zstd. read_csv must be told allow_quoted_nulls=false, or it reads
//     "" (the empty string) as NULL; the header names the columns.
//   - redshift: csv, no header, gzip, NULL written as \N. Redshift's COPY cannot tell an unquoted
//     empty field from "" for CHAR/VARCHAR unless NULL has a marker of its own.
//   - snowflake: csv with a header, zstd. FIELD_OPTIONALLY_ENCLOSED_BY='"' with
//     EMPTY_FIELD_AS_NULL=TRUE reads an unquoted empty field as NULL and "" as the empty string,
//     which is PostgreSQL's own convention; NULL_IF=() stops \N being read as NULL.
//   - bigquery: csv with a header, gzip (bq load reads gzip but not zstd), NULL written as an
//     unquoted empty field.
//   - clickhouse: csv with a header (CSVWithNames), zstd; input_format_csv_empty_as_default=1 reads
//     an unquoted empty field into a Nullable column as NULL, and "" as the empty string.
//   - athena (and the Glue Data Catalog): Parquet only, to a prefix. Athena reads CSV through
//     OpenCSVSerDe, which loads every NULL as an empty string and cannot read a quoted line break,
//     or LazySimpleSerDe, which reads no quoting at all; Parquet keeps NULLs and types. The
//     statement is CREATE EXTERNAL TABLE over the table's folder with its columns' types (from the
//     export's manifest), with PARTITIONED BY and MSCK REPAIR TABLE for partitioned exports.
//   - trino, spark: Iceberg tables only: register_table on the metadata
//     file the run committed.
//
// For Iceberg tables every loader's statement reads the table, not the files:
// DuckDB's iceberg_scan, ClickHouse's icebergS3, Snowflake's CREATE ICEBERG TABLE on the metadata
// file, BigQuery's external ICEBERG table, Trino's and Spark's register_table, and for Athena and
// Redshift Spectrum the Glue table that points at the metadata file.
//
// Only the postgres and duckdb statements are proven by the test suite (real loaders, round trip);
// the others follow each loader's documentation and are not run here.
package preset

import (
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"

	"github.com/pg2s3/pg2s3/upload"
)

// Preset is a loader's export settings.
type Preset struct {
	Name     string
	Header   bool
	Null     *string // nil: the format's default (an unquoted empty field)
	Compress string  // none, gzip or zstd
}

var backslashN = `\N`

var presets = map[string]Preset{
	"postgres":   {Name: "postgres", Compress: "none"},
	"duckdb":     {Name: "duckdb", Header: true, Compress: "zstd"},
	"redshift":   {Name: "redshift", Null: &backslashN, Compress: "gzip"},
	"snowflake":  {Name: "snowflake", Header: true, Compress: "zstd"},
	"bigquery":   {Name: "bigquery", Header: true, Compress: "gzip"},
	"clickhouse": {Name: "clickhouse", Header: true, Compress: "zstd"},
	"athena":     {Name: "athena", Compress: "none"},
	"trino":      {Name: "trino", Compress: "none"}, // Iceberg tables only
	"spark":      {Name: "spark", Compress: "none"}, // Iceberg tables only
}

// Names lists the presets.
func Names() []string {
	var n []string
	for k := range presets {
		n = append(n, k)
	}
	sort.Strings(n)
	return n
}

// Get returns the named preset.
func Get(name string) (Preset, error) {
	p, ok := presets[name]
	if !ok {
		return Preset{}, fmt.Errorf("no preset %q: want one of %s", name, strings.Join(Names(), ", "))
	}
	return p, nil
}

// Load describes what was written, for the load statement.
type Load struct {
	Loader       string // a preset name
	URL          string // s3://bucket/key, or a local path
	Endpoint     string // the S3 endpoint, when not AWS
	Region       string
	Table        string // the table to load into, as the loader should name it
	Header       bool
	Null         *string
	Delimiter    string
	ForceNotNull []string // postgres: FORCE_NOT_NULL columns (an empty field there is '', not NULL)
	Compress     string   // none, gzip, zstd
	Parquet      bool     // Parquet files: typed, compressed inside
	// HiveRoot, for partitioned objects, is the folder under which the
	// name=value/ folders are; the loaders that read partition columns from paths are told so.
	HiveRoot string
	// Folder is the table's folder (athena: the table's LOCATION).
	Folder string
	// Columns are the table's columns and their Parquet types, as the manifest lists them (athena
	// declares them; nil: not known yet, before the export).
	Columns []Column
	// Partitions names the partition levels, in order.
	Partitions []string
	// IcebergMetadata, for an Iceberg table, is its metadata file as the
	// run committed it: the statement reads the table, not the files. IcebergNamespace and
	// IcebergTable name it, Folder is its location.
	IcebergMetadata, IcebergNamespace, IcebergTable string
}

// Column is a column of the exported files.
type Column struct {
	Name    string
	Parquet string // the Parquet type pg2s3 wrote: STRING, INT(32), DECIMAL(10,2), LIST<DATE>, ...
}

// Check says whether the loader reads the format (Parquet files, in Iceberg tables or not).
func Check(loader string, parquet, iceberg bool) error {
	if (loader == "trino" || loader == "spark") && !iceberg {
		return ErrIcebergOnly
	}
	if loader == "postgres" && parquet {
		return ErrNoParquetReader
	}
	if loader == "athena" && !parquet {
		return ErrAthenaCSV
	}
	return nil
}

func (l Load) delimiter() string {
	if l.Delimiter == "" {
		return ","
	}
	return l.Delimiter
}

func sqlString(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// Statement returns the statement (or command) that loads l.URL into l.Table.
func Statement(l Load) string {
	if l.IcebergMetadata != "" {
		return icebergStatement(l)
	}
	if l.Parquet {
		return parquetStatement(l)
	}
	if f, ok := csvStatements[l.Loader]; ok {
		return f(l)
	}
	return ""
}

// csvStatements load CSV, one loader each.
var csvStatements = map[string]func(Load) string{
	"postgres": postgresCSV, "duckdb": duckdbCSV, "redshift": redshiftCSV, "snowflake": snowflakeCSV,
	"bigquery": bigqueryCSV, "clickhouse": clickhouseCSV,
}

// skipLines is how many header lines the objects start with.
func (l Load) skipLines() int {
	if l.Header {
		return 1
	}
	return 0
}

// postgresCSV pipes the object into psql's \copy (through aws s3 cp for S3, and the decompressor).
func postgresCSV(l Load) string {
	opts := "FORMAT csv"
	if l.Header {
		opts += ", HEADER"
	}
	if l.Delimiter != "" {
		opts += ", DELIMITER " + sqlString(l.Delimiter)
	}
	if l.Null != nil {
		opts += ", NULL " + sqlString(*l.Null)
	}
	if len(l.ForceNotNull) > 0 {
		cols := make([]string, len(l.ForceNotNull))
		for i, c := range l.ForceNotNull {
			cols[i] = `"` + strings.ReplaceAll(c, `"`, `""`) + `"`
		}
		opts += ", FORCE_NOT_NULL (" + strings.Join(cols, ", ") + ")"
	}
	src := "cat " + upload.ShellQuote(l.URL)
	if upload.IsS3(l.URL) {
		src = "aws s3 cp " + upload.ShellQuote(l.URL) + " -"
		if l.Endpoint != "" {
			src += " --endpoint-url " + upload.ShellQuote(l.Endpoint)
		}
	}
	switch l.Compress {
	case "gzip":
		src += " | gzip -dc"
	case "zstd":
		src += " | zstd -dc"
	}
	return fmt.Sprintf("%s | psql -v ON_ERROR_STOP=1 -c %s", src, upload.ShellQuote(fmt.Sprintf(`\copy %s FROM STDIN WITH (%s)`, l.Table, opts)))
}

// duckdbCSV creates the table from read_csv with the export's quoting, NULL and compression.
func duckdbCSV(l Load) string {
	null := ""
	if l.Null != nil {
		null = *l.Null
	}
	return fmt.Sprintf("CREATE TABLE %s AS SELECT * FROM read_csv(%s, header = %t, delim = %s, quote = '\"', escape = '\"', "+
		"nullstr = %s, allow_quoted_nulls = false, compression = %s%s);",
		l.Table, sqlString(l.URL), l.Header, sqlString(l.delimiter()), sqlString(null), sqlString(duckCompression(l.Compress)), l.duckHive())
}

// redshiftCSV is Redshift's COPY of CSV, through an IAM role left to fill in.
func redshiftCSV(l Load) string {
	null := ""
	if l.Null != nil {
		null = " NULL AS " + sqlString(*l.Null)
	}
	comp := map[string]string{"gzip": " GZIP", "zstd": " ZSTD"}[l.Compress]
	region := ""
	if l.Region != "" {
		region = " REGION " + sqlString(l.Region)
	}
	return fmt.Sprintf("COPY %s FROM %s IAM_ROLE 'arn:aws:iam::<account-id>:role/<role>' FORMAT AS CSV DELIMITER %s%s IGNOREHEADER %d%s "+
		"TIMEFORMAT 'auto' DATEFORMAT 'auto' ACCEPTINVCHARS%s;", l.Table, sqlString(l.URL), sqlString(l.delimiter()), null, l.skipLines(), comp, region)
}

// snowflakeCSV is Snowflake's COPY INTO through a storage integration left to fill in.
func snowflakeCSV(l Load) string {
	comp := map[string]string{"gzip": "GZIP", "zstd": "ZSTD"}[l.Compress]
	if comp == "" {
		comp = "NONE"
	}
	return fmt.Sprintf("COPY INTO %s FROM %s STORAGE_INTEGRATION = <integration> FILE_FORMAT = (TYPE = CSV FIELD_DELIMITER = %s "+
		"FIELD_OPTIONALLY_ENCLOSED_BY = '\"' SKIP_HEADER = %d EMPTY_FIELD_AS_NULL = TRUE NULL_IF = () COMPRESSION = %s "+
		"TIMESTAMP_FORMAT = AUTO BINARY_FORMAT = HEX);", l.Table, sqlString(l.URL), sqlString(l.delimiter()), l.skipLines(), comp)
}

// bigqueryCSV is bq load of the object's copy in Cloud Storage (BigQuery reads only GCS).
func bigqueryCSV(l Load) string {
	null := ""
	if l.Null != nil {
		null = *l.Null
	}
	url := l.URL
	if u, err := upload.ParseURL(url); err == nil {
		url = "gs://" + u.Bucket + "/" + u.Key // bq load reads Cloud Storage: use GCS interop, or copy the object there
	}
	return fmt.Sprintf("bq load --source_format=CSV --skip_leading_rows=%d --field_delimiter=%s --null_marker=%s "+
		"--allow_quoted_newlines --preserve_ascii_control_characters%s %s %s", l.skipLines(), upload.ShellQuote(l.delimiter()), upload.ShellQuote(null), l.bqHive(), l.Table, upload.ShellQuote(url))
}

// clickhouseCSV inserts from ClickHouse's s3 table function.
func clickhouseCSV(l Load) string {
	format := "CSV"
	if l.Header {
		format = "CSVWithNames"
	}
	url := clickhouseURL(l)
	comp := map[string]string{"gzip": "gzip", "zstd": "zstd"}[l.Compress]
	if comp == "" {
		comp = "none"
	}
	settings := "format_csv_delimiter = " + sqlString(l.delimiter()) + ", input_format_csv_empty_as_default = 1"
	if h := l.clickhouseHive(); h != "" {
		settings += ", " + h
	}
	return fmt.Sprintf("INSERT INTO %s SELECT * FROM s3(%s, %s, %s) SETTINGS %s;", l.Table, sqlString(url), sqlString(format), sqlString(comp), settings)
}

func duckCompression(c string) string {
	switch c {
	case "gzip", "zstd":
		return c
	}
	return "none"
}

// parquetStatement loads Parquet files. Columns are matched by name where the loader can (Snowflake)
// and are in the table's order otherwise; the types come from the files.
func parquetStatement(l Load) string {
	switch l.Loader {
	case "duckdb":
		return fmt.Sprintf("CREATE TABLE %s AS SELECT * FROM read_parquet(%s%s);", l.Table, sqlString(l.URL), l.duckHive())
	case "redshift":
		region := ""
		if l.Region != "" {
			region = " REGION " + sqlString(l.Region)
		}
		return fmt.Sprintf("COPY %s FROM %s IAM_ROLE 'arn:aws:iam::<account-id>:role/<role>' FORMAT AS PARQUET%s;", l.Table, sqlString(l.URL), region)
	case "snowflake":
		return fmt.Sprintf("COPY INTO %s FROM %s STORAGE_INTEGRATION = <integration> FILE_FORMAT = (TYPE = PARQUET) "+
			"MATCH_BY_COLUMN_NAME = CASE_SENSITIVE;", l.Table, sqlString(l.URL))
	case "bigquery":
		url := l.URL
		if u, err := upload.ParseURL(url); err == nil {
			url = "gs://" + u.Bucket + "/" + u.Key
		}
		return fmt.Sprintf("bq load --source_format=PARQUET --parquet_enable_list_inference%s %s %s", l.bqHive(), l.Table, upload.ShellQuote(url))
	case "clickhouse":
		settings := ""
		if h := l.clickhouseHive(); h != "" {
			settings = " SETTINGS " + h
		}
		return fmt.Sprintf("INSERT INTO %s SELECT * FROM s3(%s, 'Parquet')%s;", l.Table, sqlString(clickhouseURL(l)), settings)
	case "athena":
		return athenaStatement(l)
	}
	return "-- " + ErrNoParquetReader.Error()
}

// clickhouseURL is l.URL as ClickHouse's s3 function reads it: over HTTPS (or the endpoint).
func clickhouseURL(l Load) string {
	u, err := upload.ParseURL(l.URL)
	if err != nil {
		return l.URL
	}
	if l.Endpoint != "" {
		return strings.TrimSuffix(l.Endpoint, "/") + "/" + u.Bucket + "/" + u.Key
	}
	return "https://" + u.Bucket + ".s3.amazonaws.com/" + u.Key
}

// duckHive: DuckDB reads the partition columns from the name=value/ folders.
func (l Load) duckHive() string {
	if l.HiveRoot == "" {
		return ""
	}
	return ", hive_partitioning = true"
}

// bqHive: BigQuery's hive partitioning, with the partitions' root as the source URI prefix.
func (l Load) bqHive() string {
	if l.HiveRoot == "" {
		return ""
	}
	root := l.HiveRoot
	if u, err := upload.ParseURL(root); err == nil {
		root = "gs://" + u.Bucket + "/" + u.Key
	}
	return " --hive_partitioning_mode=AUTO --hive_partitioning_source_uri_prefix=" + upload.ShellQuote(root)
}

// clickhouseHive is the setting by which ClickHouse 24.8 and later read name=value/ folders as
// virtual columns ("" when the objects are not partitioned).
func (l Load) clickhouseHive() string {
	if l.HiveRoot == "" {
		return ""
	}
	return "use_hive_partitioning = 1"
}

// athenaStatement declares the table's folder as an external Parquet table in Athena (and so in
// the Glue Data Catalog). The partition columns are declared in PARTITIONED BY, as strings (the
// folders hold the values' text; Hive's default partition reads as NULL), and left out of the
// columns: Athena refuses a name in both, and reads Parquet columns by name, so the files may
// still hold them. MSCK REPAIR TABLE adds the name=value/ folders as partitions.
func athenaStatement(l Load) string {
	name := athenaName(l.Table)
	var cols []string
	for _, c := range l.Columns {
		if !slices.Contains(l.Partitions, c.Name) {
			cols = append(cols, "  "+athenaIdent(c.Name)+" "+athenaType(c.Parquet))
		}
	}
	if l.Columns == nil {
		cols = []string{"  -- the columns: the export's summary prints this statement with them"}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "CREATE EXTERNAL TABLE IF NOT EXISTS %s (\n%s\n)", name, strings.Join(cols, ",\n"))
	if len(l.Partitions) > 0 {
		parts := make([]string, len(l.Partitions))
		for i, p := range l.Partitions {
			parts[i] = athenaIdent(p) + " string"
		}
		fmt.Fprintf(&b, "\nPARTITIONED BY (%s)", strings.Join(parts, ", "))
	}
	folder := l.Folder
	if !strings.HasSuffix(folder, "/") {
		folder += "/"
	}
	fmt.Fprintf(&b, "\nSTORED AS PARQUET\nLOCATION %s;", sqlString(folder))
	if len(l.Partitions) > 0 {
		fmt.Fprintf(&b, "\nMSCK REPAIR TABLE %s;", name)
	}
	return b.String()
}

// athenaIdent quotes a name for Athena's DDL: backticks, inner ones doubled. Athena folds names
// to lower case.
func athenaIdent(s string) string { return "`" + strings.ReplaceAll(s, "`", "``") + "`" }

// athenaName is a [database.]table name for Athena's DDL, from the loader's schema.table name
// (whose parts may be double-quoted, with "" for a quote inside).
func athenaName(table string) string {
	var parts []string
	var part strings.Builder
	quoted := false
	for i := 0; i < len(table); i++ {
		switch c := table[i]; {
		case c == '"' && quoted && i+1 < len(table) && table[i+1] == '"':
			part.WriteByte('"')
			i++
		case c == '"':
			quoted = !quoted
		case c == '.' && !quoted:
			parts = append(parts, athenaIdent(part.String()))
			part.Reset()
		default:
			part.WriteByte(c)
		}
	}
	return strings.Join(append(parts, athenaIdent(part.String())), ".")
}

// athenaType is the Hive/Athena DDL type that reads a Parquet column pg2s3 wrote.
func athenaType(parquet string) string {
	if inner, ok := strings.CutPrefix(parquet, "LIST<"); ok {
		return "array<" + athenaType(strings.TrimSuffix(inner, ">")) + ">"
	}
	if strings.HasPrefix(parquet, "DECIMAL(") {
		return strings.ToLower(parquet)
	}
	switch parquet {
	case "BOOLEAN":
		return "boolean"
	case "INT(16)":
		return "smallint"
	case "INT(32)":
		return "int"
	case "INT(64)", "UINT(32)", "TIME(MICROS)": // an oid; a time of day as microseconds since midnight
		return "bigint"
	case "FLOAT":
		return "float"
	case "DOUBLE":
		return "double"
	case "BYTE_ARRAY", "UUID": // a UUID's 16 bytes
		return "binary"
	case "DATE":
		return "date"
	case "TIMESTAMP(MICROS)", "TIMESTAMP(MICROS, UTC)":
		return "timestamp"
	}
	return "string" // STRING, JSON
}

// icebergStatement reads an Iceberg table: the metadata file the run committed, or the table's
// folder where the reader follows the table itself.
func icebergStatement(l Load) string {
	key := l.IcebergMetadata
	if u, err := upload.ParseURL(key); err == nil {
		key = u.Key
	}
	name := l.IcebergNamespace + "." + l.IcebergTable
	switch l.Loader {
	case "duckdb":
		return fmt.Sprintf("CREATE TABLE %s AS SELECT * FROM iceberg_scan(%s);", l.Table, sqlString(l.IcebergMetadata))
	case "clickhouse":
		return fmt.Sprintf("INSERT INTO %s SELECT * FROM icebergS3(%s);", l.Table, sqlString(clickhouseURL(Load{URL: strings.TrimSuffix(l.Folder, "/"), Endpoint: l.Endpoint, Region: l.Region})))
	case "snowflake": // the path is relative to the external volume's STORAGE_BASE_URL (here: the bucket)
		return fmt.Sprintf("CREATE ICEBERG TABLE %s EXTERNAL_VOLUME = '<external_volume>' CATALOG = '<object_store_catalog_integration>' METADATA_FILE_PATH = %s;",
			l.Table, sqlString(key))
	case "bigquery":
		return fmt.Sprintf("CREATE EXTERNAL TABLE %s WITH CONNECTION `<connection>` OPTIONS (format = 'ICEBERG', uris = [%s]);", l.Table, sqlString(l.IcebergMetadata))
	case "trino":
		return fmt.Sprintf("CALL iceberg.system.register_table(schema_name => %s, table_name => %s, table_location => %s, metadata_file_name => %s);",
			sqlString(l.IcebergNamespace), sqlString(l.IcebergTable), sqlString(strings.TrimSuffix(l.Folder, "/")), sqlString(path.Base(l.IcebergMetadata)))
	case "spark":
		return fmt.Sprintf("CALL spark_catalog.system.register_table(table => %s, metadata_file => %s);", sqlString(name), sqlString(l.IcebergMetadata))
	case "athena", "redshift": // both read Iceberg tables the Glue Data Catalog knows
		input := fmt.Sprintf(`{"Name":%q,"TableType":"EXTERNAL_TABLE","Parameters":{"table_type":"ICEBERG","metadata_location":%q}}`, l.IcebergTable, l.IcebergMetadata)
		return "aws glue create-table --database-name " + upload.ShellQuote(l.IcebergNamespace) + " --table-input " + upload.ShellQuote(input)
	}
	return "-- PostgreSQL has no Iceberg reader: pg_lake, or DuckDB's iceberg_scan, reads the table"
}
