package preset

import "errors"

// ErrAthenaCSV is the athena preset with CSV.
var ErrAthenaCSV = errors.New("athena reads CSV through OpenCSVSerDe, which loads every NULL as an empty string and cannot read " +
	"a quoted line break (LazySimpleSerDe reads no quoting at all): export it as Parquet, which keeps NULLs and types")

// ErrNoParquetReader is the postgres preset with Parquet: PostgreSQL has no built-in reader.
var ErrNoParquetReader = errors.New("PostgreSQL has no built-in Parquet reader: export it as CSV, " +
	"or load the Parquet files with an extension (pg_parquet, parquet_fdw) or through DuckDB")

// ErrIcebergOnly is a reader of Iceberg tables (trino, spark) for files that are not one.
var ErrIcebergOnly = errors.New("reads pg2s3's output as Iceberg tables only")
