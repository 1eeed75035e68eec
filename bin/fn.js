#!/usr/bin/env -S node --max-semi-space-size=8
// The `fn` (and `jetfn`) command. It only loads the CLI, from the built JavaScript in dist/
// (`npm run build`; `npm start`, `npm test` and `npm pack` build it first).
//
// --max-semi-space-size=8 (MiB; Node 20's default lets it grow to 16): with the default, the main
// thread's young generation grew to 32 MiB in about a third of long drains, and a replica's peak
// RSS jumped from ~165 to ~220 MiB (bench case 4: 1.33x instead of 1.05x), with no gain in
// throughput. A V8 heap flag only works on the command line (v8.setFlagsFromString comes too late
// for the main thread), hence the shebang; `npm start` passes it too.
let cli
try {
  cli = await import('../dist/cli/main.js')
} catch (err) {
  if (err?.code !== 'ERR_MODULE_NOT_FOUND' || !String(err.message).includes('dist/cli/main.js')) throw err
  console.error('FN_NOT_BUILT: jetfn has not been built (dist/cli/main.js is missing)')
  console.error('hint: run `npm run build` in the jetfn checkout')
  process.exit(1)
}
process.exitCode = await cli.main(process.argv.slice(2))
