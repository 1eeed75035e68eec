import { join, resolve } from 'node:path'
import { deployFunctions, type DeployResult } from '../../deploy/deploy-functions.ts'
import { listFunctionFiles } from '../../dev/function-files.ts'
import { withRegistry } from './registry-command.ts'

/** `fn deploy [names...]`: prints one line per function (what changed) and returns the results. */
export async function runDeploy(opts: { configFile: string | undefined; names: string[] }): Promise<DeployResult[]> {
  return withRegistry(opts.configFile, { role: 'deployer', provision: true }, async ({ config, registry, jsm, nc }) => {
    const cwd = resolve(process.cwd())
    const files = await listFunctionFiles(resolve(cwd, config.functionsDir))
    const results = await deployFunctions({ config, registry, jsm, server: nc.info, files, home: join(cwd, '.fn'), cwd, ...(opts.names.length > 0 ? { names: opts.names } : {}) })
    for (const r of results) console.log(formatResult(r))
    if (results.length === 0) console.log(`no functions in ${config.functionsDir}/`)
    else if (results.every((r) => r.status === 'unchanged')) console.log('nothing changed')
    return results
  })
}

export function formatResult(r: DeployResult): string {
  return formatStatus(r) + formatNotes(r)
}

function formatStatus(r: DeployResult): string {
  const version = r.version.slice(0, 12)
  switch (r.status) {
    case 'created':
      return `${r.name}  created  ${version}  (${r.file})`
    case 'updated':
      return `${r.name}  updated  ${r.previous?.slice(0, 12)} -> ${version}  (${r.file})`
    case 'unchanged':
      return `${r.name}  unchanged  ${version}`
  }
}

function formatNotes(r: DeployResult): string {
  const consumer = `fn_${r.name}`
  let notes = ''
  if (r.consumerRecreated) notes += `\n  note: its consumer ${consumer} was gone and is created again at its startFrom; messages stored while it was gone may not run`
  if (r.movedFrom && r.oldConsumerLeft) notes += `\n  note: moved from stream ${r.movedFrom}; its old consumer ${consumer} there could not be removed (${r.oldConsumerLeft})`
  else if (r.movedFrom) notes += `\n  moved from stream ${r.movedFrom}: its old consumer ${consumer} there is removed`
  return notes
}
