// The worker's entry (wrangler.toml `main`): the Hono app as the fetch handler, which drains request
// bodies that a response left unread (worker/body.ts), and the Durable Object classes (sessions,
// per-key slots). Must not import: src/ directly.
import { app } from './app.ts'
import { discardUnread } from './body.ts'
import { limitsOf, type Env } from './env.ts'

export { KeySlots } from './key-slots.ts'
export { SessionObject } from './session.ts'

export default {
  async fetch(request: Request, env: Env, ctx: ExecutionContext): Promise<Response> {
    const response = await app.fetch(request, env, ctx)
    // Drain up to 16× the body limit, so an oversized request still reads its 413 cleanly.
    await discardUnread(request, 16 * limitsOf(env).maxBodyBytes)
    return response
  },
} satisfies ExportedHandler<Env>
