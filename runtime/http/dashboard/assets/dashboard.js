// jetfn's dashboard: plain JavaScript, no framework and nothing fetched from elsewhere. Two views,
// chosen by the URL's hash: the overview (#/) and a function's page (#/fn/<name>). Figures are
// polled every second from /api/; a function's live tail comes as server-sent events.
// Everything shown is set as text (never as HTML): a payload or an error cannot inject markup.

const POLL_MS = 1000
const TAIL_KEEP = 200
const view = document.getElementById('view')
let timer = 0
let tail = null
let token = sessionStorage.getItem('jetfn-token') || ''

/** An element: h('td', { class: 'num' }, 'text', child, ...). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue
    if (k.startsWith('on')) el.addEventListener(k.slice(2), v)
    else if (k === 'class') el.className = v
    else el.setAttribute(k, v === true ? '' : String(v))
  }
  for (const c of children.flat()) if (c !== null && c !== undefined && c !== false) el.append(c instanceof Node ? c : String(c))
  return el
}

const short = (v) => (v ? v.slice(0, 12) : '')
const num = (n) => (n === null || n === undefined ? '–' : Number(n).toLocaleString('en'))
const ms = (n) => (n === null || n === undefined ? '–' : n < 10 ? `${n.toFixed(2)} ms` : n < 1000 ? `${n.toFixed(0)} ms` : `${(n / 1000).toFixed(1)} s`)
const rate = (n) => (n ? n.toFixed(1) : '0')
const time = (iso) => new Date(iso).toLocaleString()
const paused = (f) => f.pausedUntil !== null
const fnHref = (name) => `#/fn/${encodeURIComponent(name)}`

function notice(text, kind = 'error') {
  const el = document.getElementById('notice')
  el.textContent = text
  el.className = kind === 'error' ? 'notice' : 'notice info'
  el.hidden = !text
}

async function api(path, opts = {}) {
  const headers = { accept: 'application/json' }
  if (opts.body !== undefined) headers['content-type'] = 'application/json'
  if (token && opts.method === 'POST') headers.authorization = `Bearer ${token}`
  const res = await fetch(`/api/${path}`, { method: opts.method || 'GET', headers, body: opts.body === undefined ? undefined : JSON.stringify(opts.body) })
  const body = await res.json().catch(() => ({}))
  if (!res.ok) throw new Error(body.error ? `${body.error.message}${body.error.hint ? ` (${body.error.hint})` : ''}` : `${res.status} ${res.statusText}`)
  return body
}

/** Runs a write action; says what happened. */
async function write(path, body, done) {
  try {
    const result = await api(path, { method: 'POST', body })
    notice(done(result), 'info')
    render()
  } catch (err) {
    notice(err.message)
  }
}

function header(data) {
  document.getElementById('replica').textContent = `served by ${data.replica}`
  document.getElementById('write-mode').textContent = data.write === 'token' ? (token ? 'writes: with token' : 'read-only: enter the token to act') : 'writes: from this machine only'
  document.getElementById('token-form').hidden = data.write !== 'token'
}

// ---- overview -------------------------------------------------------------------------------

async function overview() {
  const data = await api('functions')
  header(data)
  const rows = data.functions.map((f) =>
    h('tr', {},
      h('td', {}, h('a', { href: fnHref(f.name) }, f.name)),
      h('td', { class: 'mono' }, short(f.version)),
      h('td', { class: 'mono' }, f.subject),
      h('td', { class: 'num' }, rate(f.live.rate)),
      h('td', { class: 'num' }, ms(f.live.p50Ms)),
      h('td', { class: 'num' }, ms(f.live.p99Ms)),
      h('td', { class: 'num' }, num(f.pending)),
      h('td', { class: 'num' }, num(f.inFlight)),
      h('td', { class: 'num' }, num(f.redelivered)),
      h('td', { class: 'num' }, num(f.dlq)),
      h('td', { class: 'num' }, num(f.live.ok)),
      h('td', { class: 'num' }, num(f.live.retried + f.live.deadLettered)),
      h('td', {}, paused(f) ? h('span', { class: 'chip warn' }, 'paused') : h('span', { class: 'chip ok' }, 'running')),
    ),
  )
  const table = h('table', { 'aria-label': 'functions' },
    h('thead', {}, h('tr', {}, ...['Function', 'Version', 'Subject'].map((t) => h('th', {}, t)), ...['msg/s', 'p50', 'p99', 'Backlog', 'In flight', 'Redelivered', 'Dead letters', 'OK', 'Failed'].map((t) => h('th', { class: 'num' }, t)), h('th', {}, 'State'))),
    h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: 13, class: 'empty' }, 'No function is deployed yet: run fn deploy.'))),
  )
  view.replaceChildren(
    h('h1', {}, 'Functions'),
    h('section', { class: 'panel' }, table, h('p', { class: 'muted' }, `Rate over the last 10 s; p50, p99, OK and Failed over the last ${data.windowMs / 60000} minutes, from every replica, since this page was opened.`)),
  )
}

// ---- a function's page ----------------------------------------------------------------------

const page = { fn: '', kind: '', q: '', open: null, tailItems: [] }

function card(label, value, cls = '') {
  return h('div', { class: 'card' }, h('div', { class: 'label' }, label), h('div', { class: `value ${cls}`, 'aria-label': label }, value))
}

async function functionPage(name) {
  if (page.fn !== name) Object.assign(page, { fn: name, kind: '', q: '', open: null, tailItems: [] })
  const params = new URLSearchParams()
  if (page.kind) params.set('kind', page.kind)
  if (page.q) params.set('q', page.q)
  const [data, dlq, open] = await Promise.all([
    api(`functions/${encodeURIComponent(name)}`),
    api(`functions/${encodeURIComponent(name)}/dead-letters?${params}`),
    page.open === null ? null : api(`functions/${encodeURIComponent(name)}/dead-letters/${page.open}`).catch(() => (page.open = null)),
  ])
  header(data)
  const f = data.function
  const base = `functions/${encodeURIComponent(name)}`
  const title = h('div', { class: 'row' },
    h('h1', {}, name),
    f && (paused(f) ? h('span', { class: 'chip warn' }, 'paused') : h('span', { class: 'chip ok' }, 'running')),
    h('span', { class: 'spacer' }),
    f && (paused(f)
      ? h('button', { onclick: () => write(`${base}/resume`, {}, () => `${name} resumed`) }, 'Resume')
      : h('button', { onclick: () => write(`${base}/pause`, {}, () => `${name} paused`) }, 'Pause')),
  )
  const cards = f && h('div', { class: 'cards' },
    card('Version', short(f.version), 'mono'), card('msg/s', rate(f.live.rate)), card('p50', ms(f.live.p50Ms)), card('p99', ms(f.live.p99Ms)),
    card('Backlog', num(f.pending)), card('In flight', num(f.inFlight)), card('Redelivered', num(f.redelivered)), card('Dead letters', num(f.dlq)),
    card('OK', num(f.live.ok)), card('Failed', num(f.live.retried + f.live.deadLettered)),
  )
  const meta = f && h('p', { class: 'muted' }, `subject ${f.subject} · stream ${f.stream} · consumer ${f.consumer} · deployed ${time(f.deployedAt)} by ${f.deployedBy.user}@${f.deployedBy.host}`)
  view.replaceChildren(
    h('p', {}, h('a', { href: '#/' }, '← all functions')),
    title, meta || '', cards || h('p', { class: 'empty' }, 'Not deployed (only its dead letters remain).'),
    h('div', { class: 'cols' },
      h('div', {}, deadLetterPanel(name, dlq, open), versionsPanel(name, data.versions)),
      tailPanel(name),
    ),
  )
}

function deadLetterPanel(name, dlq, open) {
  const base = `functions/${encodeURIComponent(name)}/dead-letters`
  const kind = h('select', { 'aria-label': 'error kind', onchange: (e) => { page.kind = e.target.value; render() } },
    h('option', { value: '' }, 'any kind'), ...dlq.kinds.map((k) => h('option', { value: k, selected: k === page.kind }, k)))
  const search = h('input', { type: 'search', 'aria-label': 'search errors', placeholder: 'search the errors', value: page.q })
  const form = h('form', { class: 'row', onsubmit: (e) => { e.preventDefault(); page.q = search.value; render() } }, kind, search, h('button', { type: 'submit' }, 'Search'))
  const rows = dlq.deadLetters.map((d) =>
    h('tr', { 'aria-label': `dead letter ${d.seq}` },
      h('td', { class: 'num' }, d.seq),
      h('td', {}, time(d.failedAt)),
      h('td', {}, h('span', { class: 'chip bad' }, d.errorKind || '?')),
      h('td', { class: 'wrap' }, d.error || ''),
      h('td', { class: 'num' }, num(d.deliveries)),
      h('td', {},
        h('button', { onclick: () => { page.open = d.seq; render() } }, 'Show'), ' ',
        h('button', { onclick: () => write(`${base}/replay`, { seqs: [d.seq] }, () => `dead letter ${d.seq} replayed`) }, 'Replay')),
    ),
  )
  const table = h('table', { 'aria-label': 'dead letters' },
    h('thead', {}, h('tr', {}, h('th', { class: 'num' }, 'Seq'), h('th', {}, 'Failed at'), h('th', {}, 'Kind'), h('th', {}, 'Error'), h('th', { class: 'num' }, 'Deliveries'), h('th', {}, ''))),
    h('tbody', {}, rows.length ? rows : h('tr', {}, h('td', { colspan: 6, class: 'empty' }, dlq.total ? 'No dead letter matches.' : 'No dead letters.'))),
  )
  const actions = h('div', { class: 'row' },
    h('span', { class: 'muted' }, `${dlq.total} in all`), h('span', { class: 'spacer' }),
    h('button', { disabled: dlq.total === 0, onclick: () => write(`${base}/replay`, {}, (r) => `${r.replayed.length} dead letters replayed`) }, 'Replay all'),
    h('button', { class: 'danger', disabled: dlq.total === 0, onclick: () => purge(name, dlq.total) }, 'Purge all…'),
  )
  return h('section', { class: 'panel', 'aria-label': 'dead letters panel' }, h('h2', {}, 'Dead letters'), form, actions, table, open ? detail(open) : '')
}

function detail(d) {
  const payload = d.payload !== undefined ? JSON.stringify(d.payload, null, 2) : d.payloadText !== undefined ? d.payloadText : `(binary, ${d.size} bytes, base64) ${d.payloadBase64}`
  const headers = Object.entries(d.headers).map(([k, vs]) => vs.map((v) => `${k}: ${v}`).join('\n')).join('\n')
  return h('section', { class: 'detail', 'aria-label': `dead letter ${d.seq} in full` },
    h('div', { class: 'row' }, h('h2', {}, `Dead letter ${d.seq}`), h('span', { class: 'spacer' }), h('button', { onclick: () => { page.open = null; render() } }, 'Close')),
    h('dl', {},
      h('dt', {}, 'Error'), h('dd', {}, `${d.errorKind}: ${d.error}`),
      h('dt', {}, 'From'), h('dd', {}, `${d.sourceSubject} (stream ${d.sourceStream}, seq ${d.sourceSeq}), version ${short(d.version)}, ${d.deliveries} deliveries`),
    ),
    h('h2', {}, 'Payload'), h('pre', { 'aria-label': 'payload' }, payload),
    h('h2', {}, 'Headers'), h('pre', { 'aria-label': 'headers' }, headers),
  )
}

function purge(name, total) {
  const dialog = document.getElementById('confirm-dialog')
  const input = document.getElementById('confirm-input')
  document.getElementById('confirm-text').textContent = `This removes all ${total} dead letters of ${name} for good.`
  input.value = ''
  dialog.onclose = () => {
    if (dialog.returnValue === 'ok') write(`functions/${encodeURIComponent(name)}/dead-letters/purge`, { confirm: input.value }, (r) => `${r.purged} dead letters purged`)
  }
  dialog.showModal()
}

function versionsPanel(name, versions) {
  const rows = versions.map((v) =>
    h('tr', {},
      h('td', { class: 'num' }, v.revision),
      h('td', { class: 'mono' }, short(v.version)),
      h('td', {}, time(v.deployedAt)),
      h('td', {}, `${v.deployedBy.user}@${v.deployedBy.host}`),
      h('td', {}, v.current ? h('span', { class: 'chip ok' }, 'live') : h('button', { onclick: () => write(`functions/${encodeURIComponent(name)}/rollback`, { to: v.version }, (r) => `rolled back to ${short(r.to)}`) }, 'Roll back')),
    ),
  )
  return h('section', { class: 'panel' }, h('h2', {}, 'Versions'),
    h('table', { 'aria-label': 'versions' }, h('thead', {}, h('tr', {}, h('th', { class: 'num' }, 'Rev'), h('th', {}, 'Version'), h('th', {}, 'Deployed'), h('th', {}, 'By'), h('th', {}, ''))), h('tbody', {}, rows)))
}

function tailPanel(name) {
  if (!tail || tail.fn !== name) {
    tail?.source.close()
    const source = new EventSource(`/api/functions/${encodeURIComponent(name)}/tail`)
    tail = { fn: name, source }
    const add = (item) => {
      page.tailItems.unshift(item)
      page.tailItems.length = Math.min(page.tailItems.length, TAIL_KEEP)
      const list = document.getElementById('tail-list')
      if (list) list.prepend(tailItem(item))
      while (list && list.children.length > TAIL_KEEP) list.lastChild.remove()
    }
    source.addEventListener('event', (e) => add({ type: 'event', event: JSON.parse(e.data) }))
    source.addEventListener('log', (e) => add({ type: 'log', line: e.data }))
  }
  return h('section', { class: 'panel', 'aria-label': 'live tail' }, h('h2', {}, 'Live tail'),
    h('div', { class: 'tail' }, h('ul', { id: 'tail-list' }, page.tailItems.map(tailItem))),
    page.tailItems.length ? '' : h('p', { class: 'empty' }, 'Waiting for invocations…'))
}

function tailItem(item) {
  if (item.type === 'log') {
    let text = item.line
    try { const r = JSON.parse(item.line); text = `log ${r.msg ?? ''} ${JSON.stringify(r)}` } catch { /* not JSON: shown as it came */ }
    return h('li', { class: 'mono muted' }, text)
  }
  const e = item.event
  const chip = e.outcome === 'ok' ? 'chip ok' : e.outcome === 'retried' ? 'chip warn' : 'chip bad'
  return h('li', { class: 'mono' }, new Date(e.at).toLocaleTimeString(), ' ', h('span', { class: chip }, e.outcome), ` seq ${e.seq} #${e.deliveries} ${ms(e.durationMs)} ${short(e.version)} ${e.replica}`, e.error ? ` ${e.errorKind}: ${e.error}` : '')
}

// ---- routing --------------------------------------------------------------------------------

let rendering = false
async function render() {
  if (rendering) return
  rendering = true
  clearTimeout(timer)
  try {
    const m = /^#\/fn\/(.+)$/.exec(location.hash)
    if (!m && tail) { tail.source.close(); tail = null }
    if (m) await functionPage(decodeURIComponent(m[1]))
    else await overview()
  } catch (err) {
    notice(err.message)
  } finally {
    rendering = false
    // Not while a form field is being typed in: a re-render would take the focus away.
    timer = setTimeout(function again() {
      if (document.activeElement && document.activeElement.matches('input, select') && view.contains(document.activeElement)) timer = setTimeout(again, POLL_MS)
      else render()
    }, POLL_MS)
  }
}

document.getElementById('token').value = token
document.getElementById('token-form').addEventListener('submit', (e) => {
  e.preventDefault()
  token = document.getElementById('token').value.trim()
  sessionStorage.setItem('jetfn-token', token)
  notice(token ? 'token set for this tab' : 'token cleared', 'info')
  render()
})
window.addEventListener('hashchange', () => { notice(''); render() })
render()
