// The HTTP API (issue 4 item 1), routes only: OpenAI-compatible completions, sessions, models,
// health and the chat page. Validation, turns and responses live in the modules imported here.
// Must not import: src/ (the core is reached through engine.ts and session.ts).
import { Hono, type Context } from 'hono'
import { tenantOf } from './auth.ts'
import { readJson } from './body.ts'
import chatPage from './chat.html'
import { sessionStub, startTurn } from './dispatch.ts'
import { engineKernels, engineLoaded } from './engine.ts'
import { limitsOf, type Env, type Limits } from './env.ts'
import { ApiError, toApiError, type ErrorStatus } from './errors.ts'
import { ChatBody, CompletionBody, SESSION_ID, chatTurn, checkModel, completionTurn, parseBody } from './openai.ts'
import { respondJson, respondStream, type ApiKind } from './respond.ts'
import { serveAsset } from './static-files.ts'
import { warmBytes } from './warm.ts'

type AppEnv = { Bindings: Env; Variables: { limits: Limits; tenant: string } }

export const app = new Hono<AppEnv>()

app.use('*', async (c, next) => {
  c.set('limits', limitsOf(c.env))
  await next()
})

app.use('/v1/*', async (c, next) => {
  c.set('tenant', await tenantOf(c.env, c.req.header('authorization')))
  await next()
})

app.get('/', (c) => c.html(chatPage))

// Run-in-your-browser (issue 6): the page's local-mode bundle and the model folder it downloads.
app.get('/web/:file', (c) => serveAsset(c.env.ASSETS, 'web', c.req.param('file'), c.req.raw, true))
app.get('/v1/model-files/:file', (c) => serveAsset(c.env.ASSETS, c.get('limits').modelDir, c.req.param('file'), c.req.raw, c.get('tenant') === 'public'))

app.get('/healthz', (c) => c.json({ status: 'ok', model: c.get('limits').modelId, loaded: engineLoaded(), kernels: engineKernels(), warm_state_bytes: warmBytes() }))

const modelObject = (id: string) => ({ id, object: 'model', created: 0, owned_by: 'hymba-edge' })

app.get('/v1/models', (c) => c.json({ object: 'list', data: [modelObject(c.get('limits').modelId)] }))

app.get('/v1/models/:model', (c) => {
  checkModel(c.req.param('model'), c.get('limits'))
  return c.json(modelObject(c.req.param('model')))
})

async function complete(c: Context<AppEnv>, kind: ApiKind): Promise<Response> {
  const limits = c.get('limits')
  const raw = await readJson(c.req.raw, limits.maxBodyBytes)
  const body = kind === 'chat' ? parseBody(ChatBody, raw) : parseBody(CompletionBody, raw)
  checkModel(body.model, limits)
  const turn = kind === 'chat' ? chatTurn(body as ChatBody, limits) : completionTurn(body as CompletionBody, limits)
  const stream = await startTurn(c.env, limits, c.get('tenant'), body.session_id, turn)
  const id = `${kind === 'chat' ? 'chatcmpl' : 'cmpl'}-${crypto.randomUUID().replaceAll('-', '')}`
  const options = { kind, meta: { id, created: Math.floor(Date.now() / 1000), model: limits.modelId, sessionId: body.session_id }, logprobs: turn.params.logprobs, includeUsage: body.stream_options?.include_usage ?? false }
  return body.stream ? respondStream(c, stream, options) : respondJson(c, stream, options)
}

app.post('/v1/chat/completions', (c) => complete(c, 'chat'))
app.post('/v1/completions', (c) => complete(c, 'completion'))

function sessionId(id: string): string {
  if (!SESSION_ID.test(id)) throw new ApiError(400, 'session id must be 1-128 characters of [A-Za-z0-9_-]', 'invalid_request_error', 'invalid_session_id', 'session_id')
  return id
}

const sessionNotFound = (id: string) => new ApiError(404, `No session '${id}'`, 'not_found_error', 'session_not_found', 'session_id')

app.get('/v1/sessions/:id', async (c) => {
  const id = sessionId(c.req.param('id'))
  const info = await sessionStub(c.env, c.get('tenant'), id).info()
  if (!info) throw sessionNotFound(id)
  return c.json({
    id,
    object: 'session',
    model: info.model,
    tokens: info.tokens,
    state_bytes: info.stateBytes,
    turns: info.turns,
    checkpoints: info.checkpoints,
    created_at: Math.floor(info.created / 1000),
    updated_at: Math.floor(info.updated / 1000),
  })
})

app.delete('/v1/sessions/:id', async (c) => {
  const id = sessionId(c.req.param('id'))
  if (!(await sessionStub(c.env, c.get('tenant'), id).remove())) throw sessionNotFound(id)
  return c.json({ id, object: 'session.deleted', deleted: true })
})

app.notFound((c) => c.json(new ApiError(404, `No route for ${c.req.method} ${new URL(c.req.url).pathname}`, 'not_found_error', 'unknown_route').body, 404))

app.onError((err, c) => {
  const error = toApiError(err)
  if (error.status >= 500) console.error('request failed:', err)
  return c.json(error.body, error.status as ErrorStatus)
})
