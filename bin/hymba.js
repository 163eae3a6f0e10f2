#!/usr/bin/env node
// `hymba` command: registers the TypeScript loader (tsx) and runs the CLI in src/cli/main.ts.
import { register } from 'tsx/esm/api'

register()
const { main } = await import('../src/cli/main.ts')
process.exitCode = await main(process.argv.slice(2))
