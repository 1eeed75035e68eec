/**
 * KEDA's `nats-jetstream` scaler, re-told in TypeScript for tests: the same URLs, the same
 * requests in the same order, the same leader search and cache, the same lag. Written from
 * kedacore/keda `pkg/scalers/nats_jetstream_scaler.go` (read at commit 8b4f083, Aug 2026); the
 * function names below are the Go ones, so the two can be read side by side.
 *
 * In a cluster a consumer's counts are current only on its leader (a follower's `/jsz` can say 0
 * while the leader says 7), so the scaler asks the endpoint's `/jsz` for the cluster size, then
 * `/varz` for the nodes: their advertised client URLs (each node's `/varz` then gives its server
 * name), or, when nodes advertise none (`no_advertise`), the route URLs, whose first DNS label
 * is taken as the server name and prefixed to the endpoint's host. It queries each node's `/jsz`
 * until one names itself the consumer's leader, and keeps that node's URL for the next polls.
 */
import { request as httpRequest, type RequestOptions } from 'node:http'
import { request as httpsRequest } from 'node:https'
import type { LookupFunction } from 'node:net'

/** A `nats-jetstream` trigger's metadata, as in a ScaledObject (all strings). */
export interface JetStreamTriggerMetadata {
  natsServerMonitoringEndpoint: string
  account?: string
  accountID?: string
  stream: string
  consumer: string
  lagThreshold?: string
  activationLagThreshold?: string
  useHttps?: string
}

/** The metadata keys KEDA's scaler reads (its `keda:"name=…"` struct tags); any other key is ignored by it. */
export const JETSTREAM_TRIGGER_KEYS = ['account', 'accountID', 'stream', 'consumer', 'lagThreshold', 'activationLagThreshold', 'useHttps', 'natsServerMonitoringEndpoint'] as const

interface ConsumerDetail {
  name: string
  num_pending: number
  num_ack_pending: number
  cluster?: { leader?: string }
}
interface StreamDetail {
  name: string
  consumer_detail?: ConsumerDetail[]
}
interface AccountDetail {
  id: string
  name: string
  stream_detail?: StreamDetail[]
}
interface JszResponse {
  account_details?: AccountDetail[]
  meta_cluster?: { cluster_size?: number }
}
interface VarzResponse {
  connect_urls?: string[]
  cluster?: { urls?: string[] }
  server_name?: string
}

/** Go's `url.QueryEscape`: only letters, digits and `-_.~` stay; a space becomes `+`. */
export function queryEscape(s: string): string {
  return encodeURIComponent(s)
    .replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`)
    .replace(/%20/g, '+')
}

/** Go's `url.Values.Encode`: keys sorted. */
function encodeQuery(params: Record<string, string>): string {
  return Object.keys(params)
    .sort()
    .map((k) => `${queryEscape(k)}=${queryEscape(params[k]!)}`)
    .join('&')
}

/** The parts of a URL as Go's `url.Parse` keeps them (WHATWG URL would drop an explicit `:80`). */
function parseUrl(url: string): { scheme: string; host: string; port: string; path: string; query: Record<string, string> } {
  const m = /^([a-z]+):\/\/([^/?#]*)([^?#]*)(?:\?([^#]*))?/.exec(url)
  if (!m) throw new Error(`cannot parse ${url}`)
  const host = m[2]!
  // url.URL.Port(): what follows the last colon, unless that colon is inside an IPv6 literal.
  const port = /:(\d*)$/.exec(host.replace(/^\[[^\]]*\]/, ''))?.[1] ?? ''
  const query: Record<string, string> = {}
  for (const [k, v] of new URLSearchParams(m[4] ?? '')) query[k] ??= v
  return { scheme: m[1]!, host, port, path: m[3]!, query }
}

/** Go's `net.JoinHostPort`: brackets around an IPv6 host. */
function joinHostPort(host: string, port: string): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`
}

/** `getNATSJetStreamMonitoringURL`: the endpoint's `/jsz` with the account's consumers and their config. */
export function getNATSJetStreamMonitoringURL(useHttps: boolean, endpoint: string, id: string): string {
  return `${useHttps ? 'https' : 'http'}://${endpoint}/jsz?${encodeQuery({ acc: id, consumers: 'true', config: 'true' })}`
}

/** `getNATSJetStreamMonitoringServerURL`: `/varz` of the endpoint, or of `nodeHostname` on the endpoint's port. */
export function getNATSJetStreamMonitoringServerURL(monitoringURL: string, nodeHostname: string): string {
  const u = parseUrl(monitoringURL)
  let host = u.host
  if (nodeHostname !== '') host = u.port !== '' ? joinHostPort(nodeHostname, u.port) : nodeHostname
  return `${u.scheme}://${host}/varz`
}

/** `getNATSJetStreamMonitoringNodeURL`: the `/jsz` URL on `nodeHostname`, on the endpoint's port. */
export function getNATSJetStreamMonitoringNodeURL(monitoringURL: string, nodeHostname: string): string {
  const u = parseUrl(monitoringURL)
  const host = u.port !== '' ? joinHostPort(nodeHostname, u.port) : nodeHostname
  return `${u.scheme}://${host}${u.path}?${encodeQuery(u.query)}`
}

/** `getNATSJetStreamMonitoringNodeURLByNode`: the `/jsz` URL on `<node>.<endpoint host>`. */
export function getNATSJetStreamMonitoringNodeURLByNode(monitoringURL: string, node: string): string {
  const u = parseUrl(monitoringURL)
  return `${u.scheme}://${node}.${u.host}${u.path}?${encodeQuery(u.query)}`
}

/** Options of {@link KedaJetStreamScaler}. */
export interface KedaJetStreamScalerOptions {
  /** Name resolution for the scaler's HTTP requests (a stand-in for cluster DNS). Default: the system's. */
  lookup?: LookupFunction
  /** KEDA's global HTTP timeout, ms. Default 3000 (KEDA's default). */
  timeoutMs?: number
}

/** One scaler, with the state KEDA keeps between polls (the consumer's leader and its URL). */
export class KedaJetStreamScaler {
  readonly #meta: { account: string; accountID: string; stream: string; consumer: string; lagThreshold: number; activationLagThreshold: number }
  readonly #monitoringURL: string
  readonly #opts: KedaJetStreamScalerOptions
  #consumerLeader = ''
  #monitoringLeaderURL = ''
  #clusterSize = 0
  // The Go scaler starts from an empty, non-nil stream detail.
  #stream: StreamDetail | null = { name: '' }
  /** Every URL requested, in order: what the scaler would have asked the servers. */
  readonly requests: string[] = []

  /** `parseNATSJetStreamMetadata`. */
  constructor(metadata: JetStreamTriggerMetadata, opts: KedaJetStreamScalerOptions = {}) {
    const account = metadata.account ?? ''
    let accountID = metadata.accountID ?? ''
    if (account === '' && accountID === '') throw new Error('no account name or id given')
    if (accountID === '') accountID = account
    const int = (v: string | undefined, dflt: number, name: string) => {
      if (v === undefined) return dflt
      if (!/^-?\d+$/.test(v)) throw new Error(`error parsing nats metadata: ${name} '${v}' is not an integer`)
      return Number(v)
    }
    this.#meta = {
      account,
      accountID,
      stream: metadata.stream,
      consumer: metadata.consumer,
      lagThreshold: int(metadata.lagThreshold, 10, 'lagThreshold'),
      activationLagThreshold: int(metadata.activationLagThreshold, 0, 'activationLagThreshold'),
    }
    this.#monitoringURL = getNATSJetStreamMonitoringURL(metadata.useHttps === 'true', metadata.natsServerMonitoringEndpoint, accountID)
    this.#opts = opts
  }

  /** The `/jsz` URL KEDA builds from the trigger. */
  get monitoringURL(): string {
    return this.#monitoringURL
  }

  /** The leader's `/jsz` URL once found (cached for the next polls), else ''. */
  get monitoringLeaderURL(): string {
    return this.#monitoringLeaderURL
  }

  /** `lagThreshold`: the HPA's target average lag per replica. */
  get lagThreshold(): number {
    return this.#meta.lagThreshold
  }

  /** `GetMetricsAndActivity`: the lag KEDA reports, and whether the trigger is active. */
  async getMetricsAndActivity(): Promise<{ lag: number; active: boolean }> {
    await this.#getMonitoringData()
    if (this.#stream === null) throw new Error('stream not found')
    const consumer = this.#stream.consumer_detail?.find((c) => c.name === this.#meta.consumer)
    if (!consumer) throw new Error(`consumer "${this.#meta.consumer}" not found in stream "${this.#meta.stream}"`)
    const lag = consumer.num_pending + consumer.num_ack_pending
    return { lag, active: lag > this.#meta.activationLagThreshold }
  }

  /** `getNATSJetstreamMonitoringData`. */
  async #getMonitoringData(): Promise<void> {
    const cachedConsumerLeader = this.#consumerLeader
    const url = this.#monitoringLeaderURL !== '' ? this.#monitoringLeaderURL : this.#monitoringURL
    let jsz = await this.#get<JszResponse>(url)
    const consumerFound = this.#setData(jsz, '')
    if (cachedConsumerLeader !== '' && !consumerFound) {
      this.#consumerLeader = ''
      this.#monitoringLeaderURL = ''
      this.#stream = null
    }
    if (consumerFound && cachedConsumerLeader !== '' && cachedConsumerLeader === this.#consumerLeader) return
    if (this.#clusterSize <= 1) return

    const varz = await this.#get<VarzResponse>(getNATSJetStreamMonitoringServerURL(this.#monitoringURL, ''))
    let clusterUrls = varz.connect_urls ?? []
    const isNodeAdvertised = clusterUrls.length > 0
    if (!isNodeAdvertised) clusterUrls = [...(varz.cluster?.urls ?? [])]
    for (const clusterURL of clusterUrls) {
      let node: string
      let nodeURL: string
      if (isNodeAdvertised) {
        const nodeHostname = clusterURL.split(':')[0]!
        const nodeVarz = await this.#get<VarzResponse>(getNATSJetStreamMonitoringServerURL(this.#monitoringURL, nodeHostname))
        node = nodeVarz.server_name ?? ''
        nodeURL = getNATSJetStreamMonitoringNodeURL(this.#monitoringURL, nodeHostname)
      } else {
        node = clusterURL.split('.')[0]!
        nodeURL = getNATSJetStreamMonitoringNodeURLByNode(this.#monitoringURL, node)
      }
      jsz = await this.#get<JszResponse>(nodeURL)
      const leads = (jsz.account_details ?? []).some(
        (acc) =>
          this.#isAccount(acc) &&
          (acc.stream_detail ?? []).some((st) => st.name === this.#meta.stream && (st.consumer_detail ?? []).some((c) => c.name === this.#meta.consumer && node === c.cluster?.leader)),
      )
      if (leads) {
        this.#setData(jsz, nodeURL)
        return
      }
    }
    throw new Error(`leader node not found for consumer ${this.#meta.consumer}`)
  }

  /** `setNATSJetStreamMonitoringData`: true when the consumer is in the response. */
  #setData(jsz: JszResponse, leaderURL: string): boolean {
    this.#clusterSize = jsz.meta_cluster?.cluster_size ?? 0
    for (const acc of jsz.account_details ?? []) {
      if (!this.#isAccount(acc)) continue
      for (const stream of acc.stream_detail ?? []) {
        if (stream.name !== this.#meta.stream) continue
        this.#stream = stream
        const consumer = stream.consumer_detail?.find((c) => c.name === this.#meta.consumer)
        if (consumer) {
          this.#consumerLeader = consumer.cluster?.leader ?? ''
          if (leaderURL !== '') this.#monitoringLeaderURL = leaderURL
          return true
        }
      }
    }
    return false
  }

  #isAccount(acc: AccountDetail): boolean {
    return acc.id === this.#meta.accountID || acc.name === this.#meta.account
  }

  async #get<T>(url: string): Promise<T> {
    this.requests.push(url)
    const request = url.startsWith('https:') ? httpsRequest : httpRequest
    const options: RequestOptions = { timeout: this.#opts.timeoutMs ?? 3_000, ...(this.#opts.lookup ? { lookup: this.#opts.lookup } : {}) }
    return new Promise<T>((resolve, reject) => {
      const req = request(url, options, (res) => {
        let body = ''
        res.setEncoding('utf8')
        res.on('data', (chunk: string) => (body += chunk))
        res.on('end', () => {
          try {
            resolve(JSON.parse(body) as T)
          } catch (err) {
            reject(new Error(`unable to decode ${url}: ${(err as Error).message}`))
          }
        })
      })
      req.on('timeout', () => req.destroy(new Error(`${url}: timed out`)))
      req.on('error', reject)
      req.end()
    })
  }
}
