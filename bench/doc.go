// Package bench measures pg2s3's COPY pipeline against the approaches other tools take, on the
// user's own data (`pg2s3 bench`):
//
//   - copy: the engine's own run (package engine), COPY streamed into the sink: what export does;
//   - cursor: DECLARE CURSOR + FETCH n rows at a time, CSV encoded in Go, fed to the same sink;
//   - memory: every row held in memory, the CSV built in memory, one PutObject.
//
// Each run of each approach is a child process of its own, so that its CPU time and peak memory
// come from the operating system; runs alternate between approaches. The client-side encoders write
// PostgreSQL's CSV byte for byte, so the outputs' SHA-256 must agree, and a report says where they
// differ when they do not. Nothing here is asserted as a time limit: the report prints ratios
// measured side by side in one run.
package bench
