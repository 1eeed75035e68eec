/**
 * The dashboard in a real browser (Debian's chromium, headless, driven by playwright-core),
 * served by `fn start`: the overview lists the functions and its counts move as messages are
 * published; a dead letter appears, is opened, is refused a replay without the token, is replayed
 * by a click with it and disappears, and its function's count of successes rises.
 * `JETFN_SCREENSHOTS=docs npx vitest run test/integration/dashboard.test.ts` refreshes the
 * README's screenshots.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, inject, it } from 'vitest'
import { chromium, type Locator, type Page } from 'playwright-core'
import { runFn, spawnStart } from '../helpers/fn-process.ts'
import { freePort } from '../helpers/free-port.ts'
import { uniquePrefix } from '../helpers/nats-server.ts'
import { useTestServer } from '../helpers/test-server.ts'

const t = useTestServer()

const FLAGS = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run']
const TOKEN = 'dashboard-test-token-0123456789'
const COLUMNS = ['Function', 'Version', 'Subject', 'msg/s', 'p50', 'p99', 'Backlog', 'In flight', 'Redelivered', 'Dead letters', 'OK', 'Failed', 'State']

function functions(prefix: string, latch: string): Record<string, string> {
  return {
    'ok.ts': `import { defineFunction } from 'jetfn'
export default defineFunction({ name: '${prefix}_ok', subject: '${prefix}.in.ok', async handler(event, ctx) { ctx.log.info({ orderId: event.data.orderId }, 'order seen') } })
`,
    // Refuses every message until the test opens the gate (a file), as a bug fixed by a deploy would.
    'gate.ts': `import { existsSync } from 'node:fs'
import { defineFunction, NonRetryableError } from 'jetfn'
export default defineFunction({ name: '${prefix}_gate', subject: '${prefix}.in.gate', async handler(event) {
  if (!existsSync(${JSON.stringify(latch)})) throw new NonRetryableError('gate closed for order ' + event.data.orderId)
} })
`,
  }
}

/** The text of a column of the overview's row of function `fn`. */
function cell(page: Page, fn: string, column: string): Promise<string | null> {
  return page.getByRole('row').filter({ has: page.getByRole('link', { name: fn, exact: true }) }).locator('td').nth(COLUMNS.indexOf(column)).textContent()
}

const cardValue = (page: Page, label: string): Locator => page.getByLabel(label, { exact: true })

describe('dashboard', () => {
  it('shows the functions live; a dead letter is opened, refused without the token, replayed with it, and gone', async () => {
    const prefix = uniquePrefix()
    const port = await freePort()
    const latch = join(tmpdir(), `${prefix}.gate`)
    const userData = await mkdtemp(join(tmpdir(), 'jetfn-chromium-'))
    t.cleanup.push(() => rm(latch, { force: true }), () => rm(userData, { recursive: true, force: true }))
    const p = await t.project(prefix, functions(prefix, latch), { http: { port, token: TOKEN } })
    const ok = `${prefix}_ok`
    const gate = `${prefix}_gate`
    expect((await runFn(p, ['deploy'], t.server.url)).code).toBe(0)
    const replica = spawnStart(p, t.server.url)
    t.replicas.push(replica)
    await replica.waitFor((r) => r.msg === 'replica ready', 'replica ready')

    const browser = await chromium.launchPersistentContext(userData, { executablePath: inject('chromium'), headless: true, args: FLAGS, viewport: { width: 1440, height: 900 } })
    t.cleanup.push(() => browser.close())
    const page = await browser.newPage()
    const shots = process.env.JETFN_SCREENSHOTS ?? userData

    // The overview lists both functions.
    await page.goto(`http://127.0.0.1:${port}/`)
    await expect.poll(() => cell(page, ok, 'Subject')).toBe(`${prefix}.in.ok`)
    expect(await cell(page, gate, 'State')).toBe('running')

    // Publishing moves the counts.
    for (let i = 1; i <= 3; i++) await t.js.publish(`${prefix}.in.ok`, JSON.stringify({ orderId: `o-${i}` }))
    await expect.poll(() => cell(page, ok, 'OK'), { timeout: 15_000 }).toBe('3')
    await t.js.publish(`${prefix}.in.gate`, JSON.stringify({ orderId: 'o-42' }))
    await expect.poll(() => cell(page, gate, 'Dead letters'), { timeout: 15_000 }).toBe('1')
    expect(await cell(page, gate, 'Failed')).toBe('1')
    expect(await cell(page, ok, 'Version')).toBe((await t.registry.get(ok))!.version.slice(0, 12))

    // The function's page: its dead letter, opened.
    await page.getByRole('link', { name: gate, exact: true }).click()
    const row = page.getByRole('row', { name: /^dead letter \d+$/ })
    await expect.poll(() => row.count()).toBe(1)
    expect(await row.textContent()).toContain('gate closed for order o-42')
    await row.getByRole('button', { name: 'Show' }).click()
    await expect.poll(() => page.getByLabel('payload').textContent()).toContain('"orderId": "o-42"')
    expect(await page.getByLabel('headers').textContent()).toContain('Fn-Error-Kind: non-retryable')
    await expect.poll(() => page.getByLabel('live tail').textContent()).toContain('dead-lettered')
    await page.screenshot({ path: join(shots, 'dashboard-function.png') })

    // A write without the token is refused, and changes nothing.
    await row.getByRole('button', { name: 'Replay' }).click()
    await expect.poll(() => page.getByRole('status').textContent()).toContain('write actions need the dashboard token')
    const refused = await fetch(`http://127.0.0.1:${port}/api/functions/${gate}/dead-letters/replay`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })
    expect(refused.status).toBe(401)
    expect(await row.count()).toBe(1)

    // With the token, a click replays it: it runs again (now it succeeds) and leaves the DLQ.
    await page.getByPlaceholder('http.token').fill(TOKEN)
    await page.getByRole('button', { name: 'Use token' }).click()
    await writeFile(latch, '')
    expect(await cardValue(page, 'OK').textContent()).toBe('0')
    await row.getByRole('button', { name: 'Replay' }).click()
    await expect.poll(() => page.getByRole('status').textContent()).toMatch(/dead letter \d+ replayed/)
    await expect.poll(() => row.count(), { timeout: 15_000 }).toBe(0)
    await expect.poll(() => cardValue(page, 'OK').textContent(), { timeout: 15_000 }).toBe('1')
    await expect.poll(() => cardValue(page, 'Dead letters').textContent()).toBe('0')
    await expect.poll(() => page.getByLabel('live tail').textContent()).toMatch(/ok seq \d+/)

    await page.getByRole('link', { name: '← all functions' }).click()
    await expect.poll(() => cell(page, gate, 'OK')).toBe('1')
    await page.screenshot({ path: join(shots, 'dashboard-overview.png') })
  })

  it('purges only when confirmed with the name, and rolls back, pauses and resumes through the API', async () => {
    const prefix = uniquePrefix()
    const port = await freePort()
    const latch = join(tmpdir(), `${prefix}.never`)
    const p = await t.project(prefix, functions(prefix, latch), { http: { port, token: TOKEN } })
    const gate = `${prefix}_gate`
    expect((await runFn(p, ['deploy'], t.server.url)).code).toBe(0)
    const first = (await t.registry.get(gate))!.version
    await writeFile(join(p.functionsDir, 'gate.ts'), functions(prefix, latch)['gate.ts']!.replace('gate closed', 'still closed'))
    expect((await runFn(p, ['deploy'], t.server.url)).code).toBe(0)
    const replica = spawnStart(p, t.server.url)
    t.replicas.push(replica)
    await replica.waitFor((r) => r.msg === 'replica ready', 'replica ready')
    const post = (path: string, body: unknown) =>
      fetch(`http://127.0.0.1:${port}/api/functions/${gate}/${path}`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${TOKEN}` }, body: JSON.stringify(body) })

    await t.js.publish(`${prefix}.in.gate`, '{"orderId":"o-1"}')
    await t.js.publish(`${prefix}.in.gate`, '{"orderId":"o-2"}')
    const listed = async () => (await (await fetch(`http://127.0.0.1:${port}/api/functions/${gate}/dead-letters?q=o-2`)).json()) as { total: number; deadLetters: Array<{ error: string }> }
    await expect.poll(async () => (await listed()).total, { timeout: 15_000 }).toBe(2)
    expect((await listed()).deadLetters.map((d) => d.error)).toEqual(['NonRetryableError: still closed for order o-2'])

    const unconfirmed = await post('dead-letters/purge', { confirm: 'something else' })
    expect(unconfirmed.status).toBe(400)
    expect((await listed()).total).toBe(2)
    expect(await (await post('dead-letters/purge', { confirm: gate })).json()).toEqual({ purged: 2 })
    expect((await listed()).total).toBe(0)

    expect(await (await post('rollback', { to: first.slice(0, 12) })).json()).toMatchObject({ to: first })
    expect((await t.registry.get(gate))!.version).toBe(first)

    expect((await post('pause', {})).status).toBe(200)
    const paused = async () => ((await (await fetch(`http://127.0.0.1:${port}/api/functions/${gate}`)).json()) as { function: { pausedUntil: string | null } }).function.pausedUntil
    await expect.poll(paused).not.toBeNull()
    expect((await post('resume', {})).status).toBe(200)
    await expect.poll(paused).toBeNull()
  })
})
