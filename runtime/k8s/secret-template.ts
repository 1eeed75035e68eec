/**
 * The Secret the replica pods read their NATS URL and credentials from, as a template with
 * placeholders only, and the `kubectl create secret` command that makes the real one.
 */
import { natsSecretEntries } from './nats-auth-wiring.ts'
import { objectMeta, secretName, type K8sSpec } from './k8s-spec.ts'

/** The Secret with placeholder values: never a real credential, whatever the config holds. */
export function secretTemplateManifest(spec: K8sSpec): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: objectMeta(spec, secretName(spec)),
    type: 'Opaque',
    stringData: Object.fromEntries(natsSecretEntries(spec.auth, spec.tls).map((e) => [e.key, e.placeholder])),
  }
}

/** Comment lines above the template: what each key is and what reads it. */
export function secretTemplateComment(spec: K8sSpec): string[] {
  return [
    'A template: kubectl apply -f <dir> skips it (its name does not end in .yaml). Fill it in',
    'and apply it yourself, or create the Secret directly:',
    `  ${createSecretCommand(spec)}`,
    'Keys, and what the pod makes of them:',
    ...natsSecretEntries(spec.auth, spec.tls).map((e) => {
      const what = e.file !== undefined ? `mounted at ${e.file}; ${e.env} holds the path` : `environment variable ${e.env}`
      const readBy = e.env === 'NATS_URL' ? 'jetfn uses it in place of nats.servers' : 'jetfn reads it in place of the nats settings of fn.config.ts'
      return `  ${e.key}: ${what} (${readBy})`
    }),
  ]
}

/** `kubectl create secret generic …` with a placeholder per key. */
export function createSecretCommand(spec: K8sSpec): string {
  const parts = ['kubectl', 'create', 'secret', 'generic', secretName(spec)]
  if (spec.namespace) parts.push('-n', spec.namespace)
  for (const e of natsSecretEntries(spec.auth, spec.tls)) {
    if (e.file !== undefined) parts.push(`--from-file=${e.key}=./${e.key.startsWith('nats.') ? `replica.${e.key.slice('nats.'.length)}` : e.key}`)
    else parts.push(`--from-literal=${e.key}=${e.key === 'NATS_URL' ? e.placeholder : `'<${e.key.toLowerCase()}>'`}`)
  }
  return parts.join(' ')
}
