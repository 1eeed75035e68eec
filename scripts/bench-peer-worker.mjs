// The piscina task of the hand-written peer loop (`npm run bench -- --peers`), as in
// the raw-limit study's "batch 256 packed ack" pool mode: a batch of payloads packed in one transferred
// buffer; each is decoded and JSON-parsed (what a jetfn function gets before it runs), and the
// handler is a no-op. Returns one outcome byte per message (0: ack). Plain JavaScript: a worker's
// entry file does not go through tsx's hooks on Node 20.
const decoder = new TextDecoder()

export default function handleBatch({ n, buf, offs }) {
  const out = new Uint8Array(n)
  for (let i = 0; i < n; i++) {
    const event = JSON.parse(decoder.decode(buf.subarray(offs[i], offs[i + 1])))
    out[i] = event === undefined ? 2 : 0
  }
  return out
}
