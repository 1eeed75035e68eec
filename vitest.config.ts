import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Builds dist/ and provides a nats-server once, before any file runs (see the file).
    globalSetup: ['test/setup/global-setup.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    pool: 'forks',
    // Integration files each start their own nats-server; two at a time fits 2 cores.
    maxWorkers: 2,
  },
})
