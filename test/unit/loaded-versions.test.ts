import { describe, expect, it } from 'vitest'
import { LoadedVersions, RECYCLE_AFTER_RETIRED } from '../../runtime/pool/loaded-versions.ts'

describe('LoadedVersions', () => {
  it('counts a version as retired once another of its function is loaded after it', () => {
    const v = new LoadedVersions()
    v.loaded('a', '/b/1.mjs')
    v.loaded('a', '/b/1.mjs')
    v.loaded('b', '/b/x.mjs')
    expect(v.retired).toBe(0)
    v.loaded('a', '/b/2.mjs')
    expect(v.retired).toBe(1)
    // An old version running again (a requeued message) is not a new one.
    v.loaded('a', '/b/1.mjs')
    v.loaded('a', '/b/2.mjs')
    expect(v.retired).toBe(1)
  })

  it(`asks for new threads at ${RECYCLE_AFTER_RETIRED} retired versions, and starts over after`, () => {
    const v = new LoadedVersions()
    for (let i = 0; i <= RECYCLE_AFTER_RETIRED; i++) v.loaded('a', `/b/${i}.mjs`)
    expect(v.shouldRecycle).toBe(true)
    v.reset()
    expect(v.retired).toBe(0)
    expect(v.shouldRecycle).toBe(false)
  })
})
