/**
 * vitest's global setup: runs once, before any test file, so that test files running in parallel
 * never race to provide what they all need.
 * - `npm run build`: tests spawn `bin/fn.js`, which runs the built `dist/` (incremental: a second
 *   or two when nothing changed).
 * - a nats-server: found as the runtime finds one, else fetched into `.fn/bin/` here, once.
 * - Debian's chromium, for the dashboard's browser test: found if installed, else installed with
 *   apt-get (`scripts/install-chromium.sh`, bounded in time); its path is provided as `chromium`.
 */
import { spawnSync } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import type { TestProject } from 'vitest/node'
import { findNatsServer } from '../../runtime/nats/nats-server-bin.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

declare module 'vitest' {
  export interface ProvidedContext {
    /** Path of the chromium binary the browser test drives. */
    chromium: string
  }
}

/** Builds dist/ and makes sure a nats-server and chromium are there; throws (failing the run) if one fails. */
export default async function setup(project: TestProject): Promise<void> {
  const build = spawnSync('npm', ['run', '--silent', 'build'], { cwd: ROOT, encoding: 'utf8', timeout: 180_000 })
  if (build.status !== 0) {
    throw new Error(`npm run build failed (${build.error?.message ?? `exit ${build.status}`}):\n${build.stdout}${build.stderr}`)
  }
  const progress = (obj: object, msg?: string): void => {
    // Only the fetch says anything at info level: show it, a fresh machine waits for it.
    process.stderr.write(`global setup: ${msg ?? ''} ${JSON.stringify(obj)}\n`)
  }
  const bin = await findNatsServer({ cwd: ROOT, logger: { info: progress, warn: progress, debug: () => undefined } })
  process.stderr.write(`global setup: nats-server ${bin.version} at ${bin.path}\n`)
  // Bounded by the script's own step timeouts (apt-get update, install), plus a margin.
  const chromium = spawnSync('bash', ['scripts/install-chromium.sh'], { cwd: ROOT, encoding: 'utf8', timeout: 700_000, stdio: ['ignore', 'pipe', 'inherit'] })
  if (chromium.status !== 0) throw new Error(`chromium for the dashboard test is missing and could not be installed (${chromium.error?.message ?? `exit ${chromium.status}`}); see the lines above`)
  project.provide('chromium', chromium.stdout.trim())
  process.stderr.write(`global setup: chromium at ${chromium.stdout.trim()}\n`)
}
