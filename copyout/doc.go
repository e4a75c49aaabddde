// Package copyout runs `COPY ... TO STDOUT` on a PostgreSQL connection and hands the bytes the server
// generates to an io.Writer, without decoding a row.
//
// What it promises:
//
//   - The bytes written are exactly what the server sent (what `psql -c "COPY ..."` prints): no row is
//     parsed, re-encoded or reordered.
//   - pgconn calls Write once per CopyData message, and PostgreSQL sends one message per row. [Run]
//     puts a [BufferSize] buffer in front of the destination writer, so a destination such as an
//     io.Pipe sees large writes rather than one goroutine hand-off per row. The slice pgconn passes is
//     copied into that buffer and never kept.
//   - A destination Write that blocks blocks the connection: back-pressure reaches the server's socket
//     and memory stays at the buffer size. A destination Write that fails ends the COPY and the
//     connection (pgconn closes a connection it cannot drain).
//   - The COPY runs inside `BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY`, on a session whose
//     default_transaction_read_only is on, so an exported query cannot change data. (It is a safety net
//     against mistakes, not a security boundary: the role's privileges are.)
//   - A server error raised mid-stream (division by zero at row 900,000, statement_timeout) is returned
//     by Run after the bytes before it were written: callers must treat everything written as garbage
//     unless Run returns nil.
//   - Cancelling the context makes pgconn send a cancel request and, failing that, close the
//     connection; Run then returns the context's error.
//   - Errors are [*QueryError] when the server rejected the statement, carrying the SQLSTATE, detail,
//     hint and the position of a syntax error inside the user's query.
package copyout
