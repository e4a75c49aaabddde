// Package lakehouse commits an export's Parquet files as Apache Iceberg tables (format version 2)
// that engines read without a load step, in the file-system layout readers open without a
// catalog: under a table's folder, data/ holds the files and metadata/ the Iceberg metadata,
// v<N>.metadata.json and version-hint.text.
//
// What it promises:
//
//   - A commit replaces the table's contents in one Iceberg snapshot: the files of the previous
//     snapshot are removed from the table (not from the store: older snapshots still name them).
//
//   - The metadata file is the commit, written with If-None-Match so that of two writers of one
//     version exactly one wins; the loser reads the table again and commits on top of it. The
//     version hint is written after it: between the two, readers that follow the hint see the
//     version before, which is whole, and writers look past the hint for later versions.
//
//   - Schemas, manifests and manifest lists are iceberg-go's (its root package); the metadata file
//     is kept as read, with only what a commit changes rewritten (see metadata). pg2s3's own Parquet
//     files carry the schema's field IDs.
//
//   - Each data file's manifest entry carries its columns' metrics (see fileMetrics).
//
//   - The schema evolves with the export's columns in the commit that writes their data (see
//     evolve).
//
//   - Partitions by a column's value or its year, month, day or hour, with partition evolution
//     (see partitionSpec, withSpec).
//
// Not yet: bucket and truncate, identifier fields, a REST catalog.
package lakehouse
