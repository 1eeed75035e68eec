/**
 * The Dockerfile of the replica image and its .dockerignore. The image holds the project's runtime
 * dependencies (jetfn among them) and `fn.config.ts` with the local files it imports; not the
 * functions, which replicas load from the registry (`FN_BUNDLES`) as `fn deploy` puts them there,
 * and never a credential, which comes from the Secret at run time.
 */
import { IMAGE_FN_BIN, IMAGE_HOME, IMAGE_WORKDIR, replicaArgs } from './deployment-manifest.ts'
import type { K8sSpec } from './k8s-spec.ts'

/** Base image: Node 20 (jetfn's minimum) on Debian slim, which has the unprivileged `node` user. */
export const BASE_IMAGE = 'node:20-slim'

export function dockerfileLines(spec: K8sSpec): string[] {
  const json = (items: string[]) => JSON.stringify(items).replaceAll('","', '", "')
  return [
    `FROM ${BASE_IMAGE}`,
    'ENV NODE_ENV=production',
    `WORKDIR ${IMAGE_WORKDIR}`,
    '',
    '# Dependencies first, so this layer is rebuilt only when they change. Functions bundle their',
    '# own npm dependencies at deploy; the image needs jetfn and what fn.config.ts imports.',
    'COPY package.json package-lock.json ./',
    'RUN npm ci --omit=dev && npm cache clean --force',
    '',
    '# The config and the local files it imports. Functions are not in the image: replicas load',
    '# them from NATS, where `fn deploy` puts them.',
    ...spec.copyFiles.map((f) => `COPY ${json([f, f])}`),
    '',
    '# The replica writes its bundle cache under .fn (an emptyDir in Kubernetes).',
    `RUN mkdir -p ${IMAGE_HOME} && chown node:node ${IMAGE_HOME}`,
    'USER node',
    `EXPOSE ${spec.httpPort}`,
    '# Exec form: node is PID 1 and gets SIGTERM itself; it drains in-flight work, then exits.',
    'STOPSIGNAL SIGTERM',
    `ENTRYPOINT ${json(['node', IMAGE_FN_BIN])}`,
    `CMD ${json(replicaArgs(spec))}`,
  ]
}

export function dockerignoreLines(spec: Pick<K8sSpec, 'outDir'>): string[] {
  // The manifests are no part of the image (unless they are written into the project root itself).
  const out = spec.outDir.replace(/^\.\/+/, '').replace(/\/+$/, '')
  const inside = out !== '' && out !== '.' && !out.startsWith('..') && !out.startsWith('/')
  return [
    '**/node_modules',
    '.fn',
    '.git',
    ...(inside ? [out] : []),
    '# Credentials never go into an image, even by accident.',
    '.env',
    '.env.*',
    '*.creds',
    '*.nk',
    '*.pem',
    '*.key',
    'npm-debug.log*',
  ]
}
