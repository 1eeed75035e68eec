import { expect, it } from 'vitest'
import { ownReplicas } from '../../runtime/nats/own-replicas.ts'

// The INFO fields as nats-server 2.15.1 sends them: no `cluster` outside a cluster; inside one,
// `connect_urls` lists every node's client URL, the connected node's own included.
const urls = (n: number) => Array.from({ length: n }, (_, i) => `127.0.0.1:${4222 + i}`)

it('gives 1 replica on a single server', () => {
  expect(ownReplicas({})).toBe(1)
  expect(ownReplicas(undefined)).toBe(1)
})

it('gives as many replicas as the cluster has nodes, at most 3', () => {
  expect(ownReplicas({ cluster: 'c', connect_urls: urls(1) })).toBe(1)
  expect(ownReplicas({ cluster: 'c', connect_urls: urls(2) })).toBe(2)
  expect(ownReplicas({ cluster: 'c', connect_urls: urls(3) })).toBe(3)
  expect(ownReplicas({ cluster: 'c', connect_urls: urls(5) })).toBe(3)
  expect(ownReplicas({ cluster: 'c', connect_urls: [...urls(3), ...urls(3)] })).toBe(3)
})

it('takes a cluster that advertises no URLs to be large enough for 3', () => {
  expect(ownReplicas({ cluster: 'c' })).toBe(3)
})

it('lets jetfn.replicas win', () => {
  expect(ownReplicas({ cluster: 'c', connect_urls: urls(5) }, 5)).toBe(5)
  expect(ownReplicas({}, 1)).toBe(1)
})
