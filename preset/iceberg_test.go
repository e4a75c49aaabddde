package preset

import (
	"strings"
	"testing"
)

// For an Iceberg table each loader's statement reads the table (its committed metadata file, or
// its folder), not the files; trino and spark read only Iceberg tables.
func TestIcebergStatements(t *testing.T) {
	l := Load{Table: "app.orders", Parquet: true, IcebergMetadata: "s3://lake/wh/app/orders/metadata/v3.metadata.json",
		IcebergNamespace: "app", IcebergTable: "orders", Folder: "s3://lake/wh/app/orders/", Region: "eu-west-1"}
	for loader, want := range map[string]string{
		"duckdb":     "CREATE TABLE app.orders AS SELECT * FROM iceberg_scan('s3://lake/wh/app/orders/metadata/v3.metadata.json');",
		"clickhouse": "INSERT INTO app.orders SELECT * FROM icebergS3('https://lake.s3.amazonaws.com/wh/app/orders');",
		"snowflake":  "METADATA_FILE_PATH = 'wh/app/orders/metadata/v3.metadata.json';",
		"bigquery":   "OPTIONS (format = 'ICEBERG', uris = ['s3://lake/wh/app/orders/metadata/v3.metadata.json']);",
		"trino": "CALL iceberg.system.register_table(schema_name => 'app', table_name => 'orders', " +
			"table_location => 's3://lake/wh/app/orders', metadata_file_name => 'v3.metadata.json');",
		"spark":    "CALL spark_catalog.system.register_table(table => 'app.orders', metadata_file => 's3://lake/wh/app/orders/metadata/v3.metadata.json');",
		"athena":   `"metadata_location":"s3://lake/wh/app/orders/metadata/v3.metadata.json"`,
		"postgres": "PostgreSQL has no Iceberg reader",
	} {
		l.Loader = loader
		if got := Statement(l); got == "" || !strings.Contains(got, want) {
			t.Errorf("%s: %q, want it to contain %q", loader, got, want)
		}
	}
	for _, loader := range []string{"trino", "spark"} {
		if err := Check(loader, true, false); err != ErrIcebergOnly {
			t.Errorf("%s without Iceberg: %v, want ErrIcebergOnly", loader, err)
		}
		if err := Check(loader, true, true); err != nil {
			t.Errorf("%s with Iceberg: %v", loader, err)
		}
	}
}
