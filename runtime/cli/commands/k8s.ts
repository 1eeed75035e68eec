import { generateK8s, type GenerateK8sResult } from '../../k8s/generate-k8s.ts'
import type { ParsedArgs } from '../parse-args.ts'
import { SHUTDOWN_MARGIN_MS } from './start.ts'

/** `fn k8s [flags]`: writes the manifests and the Dockerfile, prints what it did and what is next. */
export async function runK8s(args: ParsedArgs): Promise<number> {
  const result = await generateK8s({ cwd: process.cwd(), configFile: args.config, flags: args.options.k8s ?? {}, stopMarginMs: SHUTDOWN_MARGIN_MS })
  console.log(formatK8sReport(result))
  return 0
}

/** One line per file (created, updated, unchanged, removed, skipped with why), the notes, then the next commands. */
export function formatK8sReport(result: GenerateK8sResult): string {
  const { spec } = result
  const scaling =
    spec.scaling.kind === 'keda'
      ? `KEDA, ${spec.scaling.min}..${spec.scaling.max} replicas on the backlog of ${spec.functions.length} function(s)`
      : `${spec.scaling.replicas} replica(s), no KEDA`
  const lines = [`fn k8s: ${spec.app} (image ${spec.image}; ${scaling}; auth ${spec.auth}):`]
  const width = Math.max(...result.files.map((f) => f.status.length))
  for (const f of result.files) lines.push(`  ${f.status.padEnd(width)}  ${f.path}${f.status === 'skipped' ? `: ${f.why}` : ''}`)
  if (result.notes.length > 0) lines.push('', 'Notes:', ...result.notes.map((n) => `  - ${n}`))
  lines.push('', 'Next:', ...result.next.map((c) => `  ${c}`))
  return lines.join('\n')
}
