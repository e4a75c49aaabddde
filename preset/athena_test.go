package preset

import (
	"strings"
	"testing"
)

// Athena's statement declares the data columns with the types that read pg2s3's Parquet, leaves
// the partition columns to PARTITIONED BY (Athena refuses a name in both), and quotes names as
// Athena's DDL does.
func TestAthenaStatement(t *testing.T) {
	got := Statement(Load{Loader: "athena", Parquet: true, Table: `sales."Order ""Lines"""`, Folder: "s3://b/p/sales.Order%20Lines",
		Columns: []Column{{"id", "INT(64)"}, {"price", "DECIMAL(10,2)"}, {"tags", "LIST<STRING>"}, {"at", "TIMESTAMP(MICROS, UTC)"},
			{"day", "DATE"}, {"ok", "BOOLEAN"}, {"doc", "JSON"}, {"n", "INT(16)"}, {"r", "FLOAT"}, {"blob", "BYTE_ARRAY"}, {"region", "STRING"}},
		Partitions: []string{"region", "month"}})
	want := "CREATE EXTERNAL TABLE IF NOT EXISTS `sales`.`Order \"Lines\"` (\n" +
		"  `id` bigint,\n  `price` decimal(10,2),\n  `tags` array<string>,\n  `at` timestamp,\n  `day` date,\n  `ok` boolean,\n" +
		"  `doc` string,\n  `n` smallint,\n  `r` float,\n  `blob` binary\n)\n" +
		"PARTITIONED BY (`region` string, `month` string)\nSTORED AS PARQUET\nLOCATION 's3://b/p/sales.Order%20Lines/';\n" +
		"MSCK REPAIR TABLE `sales`.`Order \"Lines\"`;"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if got := Statement(Load{Loader: "athena", Parquet: true, Table: "t", Folder: "s3://b/p/public.t/", Columns: []Column{{"a`b", "INT(32)"}}}); strings.Contains(got, "PARTITIONED") ||
		strings.Contains(got, "MSCK") || !strings.Contains(got, "`a``b` int") {
		t.Errorf("unpartitioned, a backtick in a name:\n%s", got)
	}
	if err := Check("athena", false, false); err != ErrAthenaCSV {
		t.Errorf("athena with CSV: %v, want ErrAthenaCSV", err)
	}
}
