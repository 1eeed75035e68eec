import { defineConfig } from 'jetfn'

export default defineConfig({
  nats: { servers: 'nats://127.0.0.1:4222' },
  streams: [
    { name: 'ORDERS', subjects: ['orders.>'], maxAge: '7d', duplicateWindow: '2m' },
    { name: 'PAYMENTS', subjects: ['payments.>'], maxAge: '7d' },
  ],
  defaults: { concurrency: 8, timeout: '30s', retry: { maxDeliver: 5, backoff: ['1s', '5s', '30s'], jitter: 0.2 } },
  http: { port: 8787 },
})
