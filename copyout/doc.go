// Package copyout runs `COPY ... TO STDOUT` on a PostgreSQL connection and hands the rows the server
// generates to a RowWriter, without decoding them; and it holds the one recipe every pg2s3
// connection is made with.
//
// What it promises:
//
//   - [Conn] is the connection recipe: the DSN is parsed by pgconn.ParseConfig, as libpq would (PG*
//     variables, ~/.pgpass, sslmode); the session gets settings that make the output independent of
//     the server's defaults ([Session]), default_transaction_read_only, the application name pg2s3,
//     a connect timeout, and a cancel request on cancellation. Every command connects through it.
//   - [Begin] is the one place a COPY's transaction starts: REPEATABLE READ, READ ONLY, and, given a
//     snapshot ID, inside that exported snapshot. An exported query cannot change data. (It is a
//     safety net against mistakes, not a security boundary: the role's privileges are.)
//   - [Copy] hands each CopyData message (one row; with HEADER, the header first) to a [RowWriter],
//     exactly as the server sent it: no row is parsed, re-encoded or reordered. The slice is reused
//     by pgconn after WriteRow returns, so a RowWriter copies what it keeps (into its buffer).
//   - A RowWriter that blocks blocks the connection: back-pressure reaches the server's socket and
//     memory stays at the RowWriter's buffer. A RowWriter that fails ends the COPY and the connection
//     (pgconn closes a connection it cannot drain), and Copy returns the RowWriter's error.
//   - A server error raised mid-stream (division by zero at row 900,000, statement_timeout) is
//     returned by Copy after the rows before it were handed on: callers must treat everything
//     written as garbage unless Copy returns nil.
//   - Cancelling the context makes pgconn send a cancel request and, failing that, close the
//     connection; Copy then returns the context's error.
//   - On Linux over TCP (not TLS), a COPY that has streamed 1 MiB is read in batches of 48 KiB per
//     wake-up (the socket's low-water mark), not once per 8 KiB send of the server: about a third
//     of the client's CPU. The price is at most 2 ms of latency where the server pauses or ends
//     the stream below the mark; bytes, errors and cancellation are as without it.
//   - Errors are [*QueryError] when the server rejected the statement, carrying the SQLSTATE, detail,
//     hint and the position of a syntax error inside the user's query; [*ConnectError] names the host
//     and port and never the password; none names a command-line flag.
//
// # Batched wake-ups while a COPY streams
//
// PostgreSQL sends a COPY in 8 KiB pieces, and a client that keeps up is woken once per piece: each
// wake-up is a thread switch in the client and a wake-up call in the server's send, most of both
// processes' CPU on a fast COPY. Over TCP, once a COPY has streamed 1 MiB, the socket's low-water
// mark (SO_RCVLOWAT) is raised to 48 KiB, so the kernel wakes the reader when that much has
// arrived, not at each piece. The kernel still wakes it at once for the end of the connection or an
// error, but not for a stream's last bytes, or a server that pauses, below the mark: so every wait
// with the mark raised also has a 2 ms timer. When it fires, the mark goes back to 1 and the read
// waits as any other, and the mark is raised again only after another MiB. The price is at most 2
// ms of latency at the end of a large COPY and at a pause of the server; a small COPY never raises
// the mark.
//
// The timer is the connection's read deadline, so the owner's deadlines (pgconn sets one to
// interrupt a cancelled query) go through the Linux reader's SetDeadline and SetReadDeadline: a
// wait ends at the earlier of the two, and the owner's deadline is an error, as the owner expects.
// Outside bulk mode, a read first lowers a mark that is still raised, so that no wait without a
// timer can miss bytes.
package copyout
