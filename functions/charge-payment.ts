// Charges a validated order through a payment gateway that fails now and then. A failure is
// retried with the function's backoff (1s, 5s, 30s, with jitter); a rate limit says when to come
// back (RetryAfterError). Once charged, it publishes `payments.charged`, exactly once per order
// even if the charge is retried, thanks to the output's Nats-Msg-Id.
import { defineFunction, RetryAfterError } from 'jetfn'

interface ValidatedOrder {
  orderId: string
  total: number
}

// Stands in for an HTTP call: the first try of about one order in three fails.
async function callGateway(order: ValidatedOrder, attempt: number, signal: AbortSignal): Promise<string> {
  await new Promise((resolve) => setTimeout(resolve, 20))
  signal.throwIfAborted()
  const unlucky = [...order.orderId].reduce((h, c) => h + c.charCodeAt(0), 0) % 3 === 0
  if (unlucky && attempt === 1) throw new Error('payment gateway: 503 Service Unavailable')
  if (order.total > 10_000) throw new RetryAfterError(2_000, 'payment gateway: 429 Too Many Requests')
  return `ch_${order.orderId}`
}

export default defineFunction({
  subject: 'orders.validated',
  name: 'charge-payment',
  concurrency: 8,
  timeout: '10s',
  retry: { maxDeliver: 4, backoff: ['1s', '5s', '30s'], jitter: 0.2 },
  async handler(event, ctx) {
    const order = event.data as ValidatedOrder
    const chargeId = await callGateway(order, event.deliveries, ctx.signal)
    ctx.log.info({ orderId: order.orderId, chargeId, attempt: event.deliveries }, 'payment charged')
    ctx.publish('payments.charged', { orderId: order.orderId, chargeId, amount: order.total })
  },
})
