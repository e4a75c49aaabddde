// Package bench will hold `pg2s3 bench`: the COPY pipe measured against the cursor approach
// (server-side cursor, FETCH 1000, CSV encoded in the client) and the in-memory approach, on the
// user's own data (issue 6). Until then, BenchmarkExport in package export measures the COPY pipe
// against the server's own COPY rate.
package bench
