import { describe, expect, it } from 'vitest'
import { missingFeature, SERVER_FEATURES } from '../../runtime/nats/server-features.ts'

describe('missingFeature', () => {
  it('names the feature, the version it needs and the version connected', () => {
    expect(missingFeature('consumer pause', '2.10.24')).toBe('consumer pause needs nats-server 2.11.0 or newer; the server connected is 2.10.24')
    expect(missingFeature('pinned consumers (key, concurrency.key)', '2.10.24')).toMatch(/needs nats-server 2.11.0 or newer; the server connected is 2.10.24/)
  })

  it('is null from the version that brought the feature on', () => {
    for (const [feature, version] of Object.entries(SERVER_FEATURES)) {
      expect(missingFeature(feature as keyof typeof SERVER_FEATURES, version)).toBeNull()
      expect(missingFeature(feature as keyof typeof SERVER_FEATURES, '2.15.1')).toBeNull()
    }
  })
})
