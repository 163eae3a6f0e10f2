// The worker's entry (wrangler.toml `main`): the Hono app as the fetch handler and the session
// Durable Object class. Must not import: src/ directly.
import { app } from './app.ts'

export { SessionObject } from './session.ts'

export default app
