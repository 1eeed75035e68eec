/**
 * The URLs the test's re-telling of KEDA's nats-jetstream scaler builds are the ones KEDA builds
 * (expected values as KEDA's own tests state them, or as Go's url package writes them), for both
 * ways it finds a cluster's nodes: advertised client URLs, and route URLs behind a headless service.
 */
import { describe, expect, it } from 'vitest'
import {
  getNATSJetStreamMonitoringNodeURL,
  getNATSJetStreamMonitoringNodeURLByNode,
  getNATSJetStreamMonitoringServerURL,
  getNATSJetStreamMonitoringURL,
  KedaJetStreamScaler,
} from '../helpers/keda-jetstream-scaler.ts'

describe('KEDA nats-jetstream URLs', () => {
  it('builds /jsz with the account escaped and the query sorted, as Go url.Values does', () => {
    expect(getNATSJetStreamMonitoringURL(false, 'nats.nats:8222', '$G')).toBe('http://nats.nats:8222/jsz?acc=%24G&config=true&consumers=true')
    expect(getNATSJetStreamMonitoringURL(true, 'nats.nats:8222', '$G')).toBe('https://nats.nats:8222/jsz?acc=%24G&config=true&consumers=true')
    expect(getNATSJetStreamMonitoringURL(false, 'nats.nats:8222', 'myaccount&consumers=false')).toBe('http://nats.nats:8222/jsz?acc=myaccount%26consumers%3Dfalse&config=true&consumers=true')
    expect(getNATSJetStreamMonitoringURL(false, 'n:8222', "a b*!'()~")).toBe('http://n:8222/jsz?acc=a+b%2A%21%27%28%29~&config=true&consumers=true')
  })

  it('asks /varz of the endpoint, or of a node on the endpoint port', () => {
    const jsz = getNATSJetStreamMonitoringURL(false, 'nats-headless.nats.svc.cluster.local:8222', '$G')
    expect(getNATSJetStreamMonitoringServerURL(jsz, '')).toBe('http://nats-headless.nats.svc.cluster.local:8222/varz')
    expect(getNATSJetStreamMonitoringServerURL(jsz, '10.0.0.7')).toBe('http://10.0.0.7:8222/varz')
    expect(getNATSJetStreamMonitoringServerURL(jsz, 'fd00::7')).toBe('http://[fd00::7]:8222/varz')
    // Go keeps an explicit :80 (the WHATWG URL parser would drop it).
    expect(getNATSJetStreamMonitoringServerURL(getNATSJetStreamMonitoringURL(false, 'nats:80', '$G'), 'n1')).toBe('http://n1:80/varz')
  })

  it('reaches an advertised node by its host, and a non-advertised one as <node>.<endpoint host>', () => {
    const jsz = getNATSJetStreamMonitoringURL(false, 'nats-headless.nats.svc.cluster.local:8222', '$G')
    expect(getNATSJetStreamMonitoringNodeURL(jsz, '10.0.0.7')).toBe('http://10.0.0.7:8222/jsz?acc=%24G&config=true&consumers=true')
    expect(getNATSJetStreamMonitoringNodeURLByNode(jsz, 'nats-1')).toBe('http://nats-1.nats-headless.nats.svc.cluster.local:8222/jsz?acc=%24G&config=true&consumers=true')
  })

  it('parses the trigger metadata as KEDA does', () => {
    const meta = { natsServerMonitoringEndpoint: 'n:8222', stream: 'S', consumer: 'fn_a' }
    expect(() => new KedaJetStreamScaler(meta)).toThrow('no account name or id given')
    expect(new KedaJetStreamScaler({ ...meta, accountID: 'ABC' }).monitoringURL).toBe('http://n:8222/jsz?acc=ABC&config=true&consumers=true')
    expect(new KedaJetStreamScaler({ ...meta, account: '$G' }).lagThreshold).toBe(10)
    expect(() => new KedaJetStreamScaler({ ...meta, account: '$G', lagThreshold: '1.5' })).toThrow(/lagThreshold/)
  })
})
