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

  it("lists each function's latest bundle, what new threads load before they take over", () => {
    const v = new LoadedVersions()
    v.loaded('a', '/b/1.mjs')
    v.loaded('b', '/b/x.mjs')
    v.loaded('a', '/b/2.mjs')
    expect(v.latest()).toEqual([
      ['a', '/b/2.mjs'],
      ['b', '/b/x.mjs'],
    ])
  })

  it(`asks for new threads at ${RECYCLE_AFTER_RETIRED} retired versions, and starts over after`, () => {
    const v = new LoadedVersions()
    for (let i = 0; i <= RECYCLE_AFTER_RETIRED; i++) v.loaded('a', `/b/${i}.mjs`)
    expect(v.shouldRecycle).toBe(true)
    v.reset()
    expect(v.retired).toBe(0)
    expect(v.shouldRecycle).toBe(false)
  })

  it('waits until the retired versions outnumber the live ones: a deploy of many functions recycles once', () => {
    const v = new LoadedVersions()
    const fns = Array.from({ length: 10 }, (_, i) => `f${i}`)
    for (const f of fns) v.loaded(f, `/b/${f}-1.mjs`)
    expect(v.live).toBe(10)
    // A deploy of all ten: nine retired versions are still fewer than the ten live ones.
    for (const f of fns.slice(0, 9)) v.loaded(f, `/b/${f}-2.mjs`)
    expect(v.shouldRecycle).toBe(false)
    v.loaded('f9', '/b/f9-2.mjs')
    expect(v.retired).toBe(10)
    expect(v.shouldRecycle).toBe(true)
  })
})
