// Part of `npm run build`: copies what tsc does not emit into dist/. The bundle inspector is plain
// JavaScript run in a bare worker thread (see runtime/deploy/inspect-bundle.ts), so it is shipped
// as it is rather than compiled.
import { copyFileSync } from 'node:fs'

const assets = ['deploy/inspect-worker.mjs']
for (const asset of assets) copyFileSync(new URL(`../runtime/${asset}`, import.meta.url), new URL(`../dist/${asset}`, import.meta.url))
