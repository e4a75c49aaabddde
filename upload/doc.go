// Package upload streams bytes of unknown length into one S3 object.
//
// An [Uploader] reads fixed-size parts from an io.Reader and uploads them with S3's multipart API
// (CreateMultipartUpload, UploadPart, CompleteMultipartUpload, AbortMultipartUpload), written directly
// on service/s3 rather than the SDK's upload managers, for three reasons: the managers abort on the
// caller's (possibly cancelled) context, they cannot grow part sizes for a stream of unknown length,
// and they hold more buffers than they need.
//
// What it promises:
//
//   - Memory: at most Concurrency+1 part buffers exist at once (one being filled, Concurrency being
//     uploaded); they are pooled and reused. Memory is therefore about (Concurrency+1) x the current
//     part size, plus the SDK's per-request overhead.
//   - Part sizes grow on the schedule of [PartSize]: the size doubles every [growEvery] parts, up to
//     S3's 5 GiB maximum, so a stream of unknown length reaches S3's 5 TiB object limit within 10,000
//     parts from any starting size of at least 5 MiB.
//   - Nothing is created on S3 before the first byte arrives. A stream that fits in one part goes up as
//     a single PutObject; an empty stream becomes an empty object.
//   - Integrity: every part carries a checksum (CRC32C or CRC64NVME, computed here), the multipart
//     upload is completed with a full-object checksum and the expected size, and after completion the
//     object's size (and checksum, when the store reports one) is compared with what was streamed; a
//     mismatch deletes the object and fails. A store that rejects checksum headers gets a warning and an
//     upload without them.
//   - Failure: a read error (the producer closed the pipe with an error), an S3 error after the SDK's
//     retries, or a cancelled context aborts the multipart upload on a context detached from the
//     caller's (context.WithoutCancel plus [Uploader.AbortTimeout]). CompleteMultipartUpload is only
//     called after the reader returned io.EOF. If the abort itself fails, the returned error is an
//     [*AbortError] naming the upload ID so the parts can be removed by hand.
//   - Cancellation once a PutObject, CreateMultipartUpload or CompleteMultipartUpload is sent: the
//     attempt in flight runs to its end (the caller must learn whether it was applied), but no new
//     attempt starts, not even after a backoff already begun. Clean-up (abort, delete) retries within
//     its own time limit.
//   - Lost answers: a PutObject or Complete that fails after its retries (a dropped connection after
//     the store applied it leaves the retry with NoSuchUpload, or a 412 under NoClobber) is settled by
//     a HEAD: the object counts as written when it has the streamed size and full-object checksum (or,
//     without one, the ETag the parts give), else the error stands.
//   - Each retry is logged at Info: the request, the object, the attempt and its cause.
//
// Upload never retries a part itself beyond the SDK's retryer; part bodies are bytes.Readers, so the
// SDK can rewind and resend them.
package upload
