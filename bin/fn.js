#!/usr/bin/env -S node --max-semi-space-size=8
// The `fn` command. It only loads the CLI; jetfn runs from its TypeScript source through tsx.
//
// --max-semi-space-size=8 (MiB; Node 20's default lets it grow to 16): with the default, the main
// thread's young generation grew to 32 MiB in about a third of long drains, and a replica's peak
// RSS jumped from ~165 to ~220 MiB (bench case 4: 1.33x instead of 1.05x), with no gain in
// throughput. A V8 heap flag only works on the command line (v8.setFlagsFromString comes too late
// for the main thread), hence the shebang; `npm start` passes it too.
import { register } from 'tsx/esm/api'

register()
const { main } = await import('../runtime/cli/main.ts')
process.exitCode = await main(process.argv.slice(2))
