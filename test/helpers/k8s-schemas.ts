/**
 * Checks Kubernetes objects the way the API server would: against the OpenAPI schemas of
 * Kubernetes (`kubernetes-models`) and KEDA's CRDs (`@kubernetes-models/keda`), values and
 * required fields by their validators; unknown fields (which those validators let through, and
 * which `kubectl apply` refuses under its default strict field validation) by type-checking the
 * objects as literals of the packages' TypeScript types, whose excess-property check reaches
 * every nesting level.
 */
import { randomUUID } from 'node:crypto'
import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'
import { Deployment } from 'kubernetes-models/apps/v1/Deployment'
import { Secret } from 'kubernetes-models/v1/Secret'
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))

interface ModelEntry {
  validate(object: Record<string, unknown>): void
  /** Module and interface of the TypeScript type. */
  module: string
  type: string
}

const MODELS: Record<string, ModelEntry> = {
  'apps/v1 Deployment': { validate: (o) => new Deployment(o as never).validate(), module: 'kubernetes-models/apps/v1/Deployment', type: 'IDeployment' },
  'v1 Secret': { validate: (o) => new Secret(o as never).validate(), module: 'kubernetes-models/v1/Secret', type: 'ISecret' },
  'keda.sh/v1alpha1 ScaledObject': { validate: (o) => new ScaledObject(o as never).validate(), module: '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject', type: 'IScaledObject' },
}

function modelOf(object: Record<string, unknown>): ModelEntry {
  const key = `${String(object.apiVersion)} ${String(object.kind)}`
  const model = MODELS[key]
  if (!model) throw new Error(`no schema for ${key}`)
  return model
}

/** Validates against the schema of the object's apiVersion and kind; throws with every violation. */
export function validateK8sObject(object: Record<string, unknown>): void {
  modelOf(object).validate(object)
}

/**
 * Type-checks the objects as literals of their Kubernetes/KEDA types: resolves with one line per
 * field the schema does not know (or a value of the wrong shape), empty when there are none.
 */
export async function unknownFieldProblems(objects: ReadonlyArray<Record<string, unknown>>): Promise<string[]> {
  const dir = join(ROOT, '.fn', 'test')
  await mkdir(dir, { recursive: true })
  const file = join(dir, `k8s-typecheck-${randomUUID()}.ts`)
  const imports = new Map<string, string>()
  const decls = objects.map((o, i) => {
    const m = modelOf(o)
    imports.set(m.type, m.module)
    return `export const object${i}: ${m.type} = ${JSON.stringify(o, null, 2)}`
  })
  const text = [...[...imports].map(([type, module]) => `import type { ${type} } from '${module}'`), ...decls].join('\n')
  await writeFile(file, text)
  try {
    const program = ts.createProgram([file], {
      strict: true,
      noEmit: true,
      skipLibCheck: true,
      target: ts.ScriptTarget.ES2022,
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      types: [],
    })
    const source = program.getSourceFile(file)!
    return [...program.getSyntacticDiagnostics(source), ...program.getSemanticDiagnostics(source)].map((d) => {
      const line = d.start === undefined ? 0 : source.getLineAndCharacterOfPosition(d.start).line + 1
      return `line ${line}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`
    })
  } finally {
    await rm(file, { force: true })
  }
}
