// Validates every new order against a schema and hands valid ones on as `orders.validated`.
// An order that fails the schema is dead-lettered at once (Fn-Error-Kind: schema).
import { defineFunction } from 'jetfn'
import { z } from 'zod'

export default defineFunction({
  subject: 'orders.created',
  schema: z.object({
    orderId: z.string().min(1),
    customer: z.string().min(1),
    items: z.array(z.object({ sku: z.string(), qty: z.number().int().positive(), price: z.number().nonnegative() })),
  }),
  concurrency: 16,
  timeout: '5s',
  async handler(event, ctx) {
    const total = event.data.items.reduce((sum, item) => sum + item.qty * item.price, 0)
    ctx.log.info({ orderId: event.data.orderId, total }, 'order validated')
    ctx.publish('orders.validated', { ...event.data, total })
  },
})
