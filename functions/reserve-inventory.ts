// Reserves stock for a validated order. An empty order or an unknown SKU can never succeed, so it
// is rejected as non-retryable and lands in the DLQ at once (Fn-Error-Kind: non-retryable).
import { defineFunction, NonRetryableError } from 'jetfn'

const stock: Record<string, number> = { 'sku-apple': 1_000, 'sku-pear': 500, 'sku-plum': 50 }

interface ValidatedOrder {
  orderId: string
  items: Array<{ sku: string; qty: number }>
}

export default defineFunction({
  subject: 'orders.validated',
  concurrency: 8,
  async handler(event, ctx) {
    const order = event.data as ValidatedOrder
    if (order.items.length === 0) throw new NonRetryableError(`order ${order.orderId} has no items`)
    for (const item of order.items) {
      if (!(item.sku in stock)) throw new NonRetryableError(`order ${order.orderId}: unknown sku ${item.sku}`)
    }
    ctx.log.info({ orderId: order.orderId, items: order.items.length }, 'inventory reserved')
  },
})
