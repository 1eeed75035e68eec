#!/usr/bin/env node
// The `fn` command. It only loads the CLI; jetfn runs from its TypeScript source through tsx.
import { register } from 'tsx/esm/api'

register()
const { main } = await import('../runtime/cli/main.ts')
process.exitCode = await main(process.argv.slice(2))
