// Reads an Iceberg table the way an engine does, with readers pg2s3 did not write: icebird (on
// hyparquet) follows metadata/version-hint.text to the metadata, the manifest list, the manifests
// and the Parquet files; avsc decodes the manifest list and manifests on its own.
//
// usage: node read.mjs ENDPOINT s3://bucket/path/to/table
// ENDPOINT is the S3 endpoint (http(s)://host:port), read anonymously, path-style. Prints one JSON
// document: {version, rows, manifestList, manifests: [{path, content, sequence, entries: [{status,
// content, equalityIds, path, records, size, values, nulls, sizes, lower, upper, partition,
// rowValues}]}]} (content: 0 data, 1 deletes in a manifest, 2 equality deletes in an entry; the
// metrics by field ID,
// bounds in hex; the partition as the manifest has it, and the distinct values of each partition
// column in the file's rows); 64-bit
// integers as strings, dates and timestamps in ISO 8601.
import { icebergLatestVersion, icebergMetadata, icebergRead } from 'icebird'
import { asyncBufferFromUrl, parquetReadObjects } from 'hyparquet'
import { compressors } from 'hyparquet-compressors'
import avro from 'avsc'
import { inflateRawSync } from 'node:zlib'

const [endpoint, tableUrl] = process.argv.slice(2)
if (!endpoint || !tableUrl) {
  console.error('usage: node read.mjs ENDPOINT s3://bucket/path/to/table')
  process.exit(2)
}
// A key is sent as it is stored: each segment percent-encoded (an Iceberg partition folder such as
// region=a%2Fb holds a literal %).
const keyPath = key => key.split('/').map(encodeURIComponent).join('/')
const s3 = url => endpoint.replace(/\/$/, '') + '/' + keyPath(url.replace(/^s3a?:\/\//, ''))
const realFetch = globalThis.fetch
// icebird turns s3://bucket/key into https://bucket.s3.amazonaws.com/key: send it to the endpoint.
// icebird 0.3.1 cannot inflate Avro's deflate blocks (hyparquet-compressors' gunzip reads a raw
// deflate stream as gzip members and runs past its end), which every writer of Iceberg manifests
// uses, Java's too: its Avro files are handed over inflated, byte for byte the same records.
globalThis.fetch = async (url, init) => {
  url = String(url).replace(/^https:\/\/([^/]+)\.s3\.amazonaws\.com\/(.*)$/, (_, bucket, key) => s3(`s3://${bucket}/${key}`))
  const res = await realFetch(url, init)
  if (!res.ok || !url.endsWith('.avro')) return res
  return new Response(inflateAvro(Buffer.from(await res.arrayBuffer())), { status: 200 })
}

// inflateAvro rewrites an Avro object container file with the null codec.
function inflateAvro(buf) {
  let pos = 0
  const long = () => { let n = 0n, shift = 0n, b; do { b = buf[pos++]; n |= BigInt(b & 0x7f) << shift; shift += 7n } while (b & 0x80); return Number((n >> 1n) ^ -(n & 1n)) }
  const bytes = () => { const n = long(); const b = buf.subarray(pos, pos + n); pos += n; return b }
  const zz = n => { const out = []; let v = (BigInt(n) << 1n) ^ (BigInt(n) >> 63n); do { let b = Number(v & 0x7fn); v >>= 7n; if (v) b |= 0x80; out.push(b) } while (v); return Buffer.from(out) }
  const withLen = b => Buffer.concat([zz(b.length), b])
  if (buf.subarray(0, 4).toString('latin1') !== 'Obj\x01') throw new Error('not an Avro file')
  pos = 4
  const meta = new Map()
  for (let n = long(); n !== 0; n = long()) {
    if (n < 0) { n = -n; long() }
    for (let i = 0; i < n; i++) meta.set(bytes().toString(), Buffer.from(bytes()))
  }
  const codec = meta.get('avro.codec')?.toString() ?? 'null'
  if (codec === 'null') return buf
  if (codec !== 'deflate') throw new Error(`Avro codec ${codec}`)
  meta.set('avro.codec', Buffer.from('null'))
  const sync = buf.subarray(pos, pos + 16); pos += 16
  const out = [buf.subarray(0, 4), zz(meta.size)]
  for (const [k, v] of meta) out.push(withLen(Buffer.from(k)), withLen(v))
  out.push(zz(0), sync)
  while (pos < buf.length) {
    const count = long()
    const data = inflateRawSync(bytes())
    pos += 16
    out.push(zz(count), withLen(data), sync)
  }
  return Buffer.concat(out)
}

// Iceberg's IDs are 64-bit: avsc reads longs as BigInt.
const longType = avro.types.LongType.__with({
  fromBuffer: b => b.readBigInt64LE(),
  toBuffer: n => { const b = Buffer.alloc(8); b.writeBigInt64LE(BigInt(n)); return b },
  fromJSON: BigInt,
  toJSON: Number,
  isValid: n => typeof n === 'bigint',
  compare: (a, b) => (a === b ? 0 : a < b ? -1 : 1),
})

async function avroRecords(url) {
  const res = await realFetch(s3(url))
  if (!res.ok) throw new Error(`${url}: ${res.status}`)
  const buf = Buffer.from(await res.arrayBuffer())
  return new Promise((resolve, reject) => {
    const records = []
    const decoder = new avro.streams.BlockDecoder({ parseHook: schema => avro.Type.forSchema(schema, { registry: { long: longType } }) })
    decoder.on('data', r => records.push(r)).on('end', () => resolve(records)).on('error', reject)
    decoder.end(buf)
  })
}

const version = await icebergLatestVersion({ tableUrl })
const metadata = await icebergMetadata({ tableUrl })
const rows = await icebergRead({ tableUrl, metadata })
const current = metadata.snapshots?.find(s => s['snapshot-id'] === metadata['current-snapshot-id'])
const manifests = []
if (current) {
  for (const m of await avroRecords(current['manifest-list'])) {
    const kv = (l, f = v => v) => Object.fromEntries((l ?? []).map(({ key, value }) => [key, f(value)]))
    const hex = b => Buffer.from(b).toString('hex')
    const entries = (await avroRecords(m.manifest_path)).map(e => ({
      status: e.status, content: e.data_file.content ?? 0, equalityIds: e.data_file.equality_ids ?? null,
      path: e.data_file.file_path, records: e.data_file.record_count, size: e.data_file.file_size_in_bytes,
      values: kv(e.data_file.value_counts), nulls: kv(e.data_file.null_value_counts), sizes: kv(e.data_file.column_sizes),
      lower: kv(e.data_file.lower_bounds, hex), upper: kv(e.data_file.upper_bounds, hex),
      partition: e.data_file.partition, rowValues: {},
    }))
    // The values the file's rows hold of each partition field's source column, read from the file
    // itself (by the default spec's source IDs).
    const spec = metadata['partition-specs'].find(p => p['spec-id'] === metadata['default-spec-id'])
    const schemaFields = metadata.schemas.find(x => x['schema-id'] === metadata['current-schema-id']).fields
    const source = Object.fromEntries((spec?.fields ?? []).map(f => [f.name, schemaFields.find(c => c.id === f['source-id'])?.name]))
    for (const e of entries) {
      if (e.status === 2 || Object.keys(e.partition ?? {}).length === 0) continue
      const file = await asyncBufferFromUrl({ url: s3(e.path) })
      const rows = await parquetReadObjects({ file, compressors })
      const plain = v => (v instanceof Date ? v.toISOString() : typeof v === 'bigint' ? v.toString() : v ?? null)
      for (const name of Object.keys(e.partition)) e.rowValues[name] = [...new Set(rows.map(r => plain(r[source[name]])))]
    }
    manifests.push({ path: m.manifest_path, content: m.content ?? 0, sequence: m.sequence_number, entries })
  }
}
const out = { version, snapshot: current ?? null, schema: metadata.schemas.find(s => s['schema-id'] === metadata['current-schema-id']), rows, manifests }
console.log(JSON.stringify(out, (_, v) => typeof v === 'bigint' ? v.toString() : v instanceof Date ? v.toISOString() : v))
