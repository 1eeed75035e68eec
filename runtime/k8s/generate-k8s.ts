/**
 * `fn k8s`: from the project (package.json, `fn.config.ts`, `functions/`) and the flags, decides a
 * {@link K8sSpec}, renders the Deployment, the KEDA ScaledObject, the Secret template, the
 * Dockerfile and .dockerignore, and writes them, touching only files it generated. The output is
 * a function of the project and the flags alone: no time, no host, no secret.
 */
import { isAbsolute, join, relative, resolve } from 'node:path'
import { stringify } from 'yaml'
import { loadConfigDetails, type LoadedConfig } from '../config/load-config.ts'
import { FnError, FnErrorCode } from '../errors/fn-error.ts'
import { deploymentManifest } from './deployment-manifest.ts'
import { dockerfileLines, dockerignoreLines } from './dockerfile.ts'
import { resolveK8sOptions, type K8sFlags, type K8sOptions } from './k8s-options.ts'
import { appName, readProjectFunctions, readProjectPackage, type ProjectPackage } from './k8s-project.ts'
import type { K8sFunction, K8sSpec } from './k8s-spec.ts'
import { configAuthKind, natsSecretEntries, SECRET_CONFIG_FIELDS, type NatsAuthKind } from './nats-auth-wiring.ts'
import { scaledObjectManifest } from './scaled-object-manifest.ts'
import { createSecretCommand, secretTemplateComment, secretTemplateManifest } from './secret-template.ts'
import { markerLine, writeGeneratedFiles, type FileOutcome, type GeneratedFile } from './write-generated-files.ts'

/** Room for the main thread's heap and Node itself next to the workers' heaps, MiB. */
const MAIN_THREAD_MIB = 256

/** Options of {@link generateK8s}. */
export interface GenerateK8sOptions {
  /** The project directory. */
  cwd: string
  /** `--config`; default `fn.config.ts`. */
  configFile?: string | undefined
  flags: K8sFlags
  /** How long `fn start` may take past `shutdownGrace` before it exits on its own, ms. */
  stopMarginMs: number
  /** Environment for the config (`NATS_URL`). Default `process.env`. */
  env?: NodeJS.ProcessEnv
}

/** What {@link generateK8s} did. */
export interface GenerateK8sResult {
  spec: K8sSpec
  files: FileOutcome[]
  /** Things the user should know or fix (a default that may not fit, a variable the config does not read). */
  notes: string[]
  /** The commands that take the project to a cluster, in order. */
  next: string[]
}

export async function generateK8s(opts: GenerateK8sOptions): Promise<GenerateK8sResult> {
  const options = resolveK8sOptions(opts.flags)
  const cwd = resolve(opts.cwd)
  const loaded = await loadConfigDetails({ cwd, ...(opts.configFile !== undefined ? { file: opts.configFile } : {}), ...(opts.env ? { env: opts.env } : {}) })
  checkConfig(loaded, cwd)
  const pkg = await readProjectPackage(cwd)
  const functions = await readProjectFunctions(loaded.config, cwd)
  const notes: string[] = []
  const spec = decideSpec({ options, loaded, pkg, functions, cwd, stopMarginMs: opts.stopMarginMs, notes })
  const files = renderFiles(spec)
  const outcomes = await writeGeneratedFiles(files, { cwd, force: options.force, ownedDirs: [spec.outDir] })
  const out = spec.outDir.replace(/\/+$/, '')
  const ns = spec.namespace ? ` -n ${spec.namespace}` : ''
  const next = [
    `docker build -t ${spec.image} . && docker push ${spec.image}`,
    createSecretCommand(spec),
    `kubectl apply${ns} -f ${out}/`,
    [...natsSecretEntries(spec.auth, spec.tls).map((e) => e.deployer), 'npx fn deploy'].join(' '),
  ]
  return { spec, files: outcomes, notes, next }
}

/** Refuses a config the manifests cannot serve, or one that would put a credential into the image. */
function checkConfig(loaded: LoadedConfig, cwd: string): void {
  const { config, file } = loaded
  const label = file ?? 'fn.config.ts'
  if (config.http.port === 0) {
    throw new FnError(FnErrorCode.K8sFailed, `${label}: 'http.port' is 0: the Deployment's probes need /healthz and /readyz`, { hint: 'set http.port (default 8787) or leave it out' })
  }
  if (file !== undefined && (isAbsolute(file) || file.startsWith('..'))) {
    throw new FnError(FnErrorCode.K8sFailed, `${file}: the config must be inside the project (${cwd}): the image is built from the project directory`)
  }
  const servers = (loaded.input as { nats?: { servers?: unknown } } | undefined)?.nats?.servers
  if ((Array.isArray(servers) ? servers : [servers]).some((url) => typeof url === 'string' && /^[a-z]+:\/\/[^/]*@/i.test(url.trim()))) {
    throw new FnError(FnErrorCode.K8sFailed, `${label}: 'nats.servers' has credentials in a URL, and the image would carry them`, {
      hint: 'leave nats.servers out of the image: the Deployment sets NATS_URL from the Secret',
    })
  }
  const token = config.http.token
  if (token !== undefined && [JSON.stringify(token), `'${token}'`, `\`${token}\``].some((literal) => loaded.code.includes(literal))) {
    throw new FnError(FnErrorCode.K8sFailed, `${label}: 'http.token' is written in the file, and the image would carry it`, {
      hint: 'read it from the environment (token: process.env.JETFN_HTTP_TOKEN) and set that variable from a Secret of your own',
    })
  }
  for (const [field, kind] of Object.entries(SECRET_CONFIG_FIELDS) as Array<[keyof typeof SECRET_CONFIG_FIELDS, NatsAuthKind]>) {
    const value = config.nats[field]
    // The image copies the config file: a credential written in it would ship in every layer. The
    // compiled code holds the config's literals (and its local imports'), in one of three quotes.
    if (value !== undefined && [JSON.stringify(value), `'${value}'`, `\`${value}\``].some((literal) => loaded.code.includes(literal))) {
      throw new FnError(FnErrorCode.K8sFailed, `${label}: 'nats.${field}' is written in the file, and the image would carry it`, {
        hint: `remove it from the file: the Deployment sets ${natsSecretEntries(kind, undefined).filter((e) => e.env !== 'NATS_URL').map((e) => e.env).join(' and ')} from the Secret, and jetfn reads that itself`,
      })
    }
  }
}

interface Decide {
  options: K8sOptions
  loaded: LoadedConfig
  pkg: ProjectPackage
  functions: K8sFunction[]
  cwd: string
  stopMarginMs: number
  notes: string[]
}

function decideSpec({ options, loaded, pkg, functions, cwd, stopMarginMs, notes }: Decide): K8sSpec {
  const { config } = loaded
  const app = options.name ?? appName(pkg.name, cwd)
  const image = options.image ?? `${app}:${pkg.version ?? 'latest'}`
  if (options.image === undefined) notes.push(`image: ${image} (from package.json); pass --image with the reference your cluster pulls, e.g. --image ghcr.io/acme/${app}:${pkg.version ?? '1.0.0'}`)

  const threads = (loaded.input as { pool?: { threads?: unknown } } | undefined)?.pool?.threads
  const heapMib = config.pool.maxOldGenerationSizeMb
  const resources = {
    cpu: options.cpu ?? (typeof threads === 'number' ? String(threads) : '1'),
    memory: options.memory ?? (typeof threads === 'number' ? `${threads * heapMib + MAIN_THREAD_MIB}Mi` : '1Gi'),
  }
  if (typeof threads !== 'number') {
    notes.push(
      `pool.threads is not set in ${loaded.file ?? 'fn.config.ts'}: in a pod it defaults to the node's CPU count, not the pod's share; set it (the pod requests cpu ${resources.cpu}, memory ${resources.memory}; each thread may use up to pool.maxOldGenerationSizeMb ${heapMib} MiB)`,
    )
  }

  const auth = options.auth ?? configAuthKind(config.nats)
  if (functions.length === 0) notes.push(`no functions in ${config.functionsDir}/: no ScaledObject is written (KEDA needs a trigger); re-run fn k8s once there are`)

  const configFile = loaded.file ?? 'fn.config.ts'
  const sources = loaded.file === undefined ? [] : loaded.sources
  const outDir = relative(cwd, resolve(cwd, options.outDir)) || '.'
  return {
    app,
    version: pkg.version,
    image,
    namespace: options.namespace,
    configFile,
    configFlag: configFile !== 'fn.config.ts',
    copyFiles: sources,
    outDir,
    httpPort: config.http.port,
    stopDeadlineMs: config.shutdownGraceMs + stopMarginMs,
    auth,
    tls: config.nats.tls,
    resources,
    scaling: options.scaling,
    functions,
  }
}

/** Every file `fn k8s` writes for `spec`, in a stable order. */
export function renderFiles(spec: K8sSpec): GeneratedFile[] {
  const files: GeneratedFile[] = [
    { path: 'Dockerfile', text: lines([markerLine('for the replica image'), ...dockerfileLines(spec)]) },
    { path: '.dockerignore', text: lines([markerLine('for the replica image'), ...dockerignoreLines(spec)]) },
    { path: join(spec.outDir, 'deployment.yaml'), text: yamlFile('from fn.config.ts', [], deploymentManifest(spec)) },
  ]
  const scaled = scaledObjectManifest(spec)
  if (scaled) {
    const why = [
      'One ScaledObject for the Deployment, one nats-jetstream trigger per function: every replica runs',
      "every function, and KEDA scales to the highest count any trigger asks for (lag / lagThreshold,",
      "lag = the consumer's pending + unacknowledged messages, lagThreshold = the function's concurrency).",
    ]
    files.push({ path: join(spec.outDir, 'scaledobject.yaml'), text: yamlFile(`from fn.config.ts and ${spec.functions.length} function(s)`, why, scaled) })
  }
  files.push({ path: join(spec.outDir, 'secret.yaml.example'), text: yamlFile('as a template, without values', secretTemplateComment(spec), secretTemplateManifest(spec)) })
  return files
}

function yamlFile(what: string, comment: string[], object: Record<string, unknown>): string {
  return lines([markerLine(what), ...comment.map((c) => `# ${c}`.trimEnd())]) + stringify(object, { lineWidth: 0 })
}

function lines(all: string[]): string {
  return all.join('\n') + '\n'
}
