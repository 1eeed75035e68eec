// Part of `npm run build`: copies what tsc does not emit into dist/. The bundle inspector is plain
// JavaScript run in a bare worker thread (see runtime/deploy/inspect-bundle.ts), so it is shipped
// as it is rather than compiled; the dashboard's page (runtime/http/dashboard/assets/) is served as
// it is. A file already up to date is left alone, and a changed one is
// replaced by a rename: a deploy reading it meanwhile never sees half a file.
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'

const assets = ['deploy/inspect-worker.mjs', 'http/dashboard/assets/index.html', 'http/dashboard/assets/dashboard.css', 'http/dashboard/assets/dashboard.js']
for (const asset of assets) {
  const from = new URL(`../runtime/${asset}`, import.meta.url)
  const to = new URL(`../dist/${asset}`, import.meta.url)
  const code = readFileSync(from)
  let current
  try {
    current = readFileSync(to)
  } catch {
    // Not built yet.
  }
  if (current?.equals(code)) continue
  mkdirSync(new URL('.', to), { recursive: true })
  writeFileSync(new URL(`${to.href}.${process.pid}.tmp`), code)
  renameSync(new URL(`${to.href}.${process.pid}.tmp`), to)
}
