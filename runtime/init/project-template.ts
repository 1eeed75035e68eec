/**
 * The files `fn init` writes: a project that type-checks and runs at once (`npm install`,
 * `npm run dev`). Versions come from jetfn's own package.json, so a scaffold asks for the jetfn it
 * was made by and the zod and TypeScript that jetfn is tested with.
 */
import { readFileSync } from 'node:fs'

/** A file of the scaffold: path relative to the project, and its contents. */
export interface TemplateFile {
  path: string
  contents: string
}

/** The subject, stream and sample payload of the scaffold's example function. */
export const HELLO = { fn: 'hello', subject: 'hello.requested', stream: 'HELLO', data: '{"name":"Ada"}' } as const

interface OwnPackage {
  version: string
  dependencies: Record<string, string>
  devDependencies: Record<string, string>
}

// runtime/init/ and dist/init/ are both two levels under the package root.
const own = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as OwnPackage

/** The fields of the scaffold's package.json that `fn init` adds to an existing one. */
export function packageFields(): {
  type: 'module'
  scripts: Record<string, string>
  dependencies: Record<string, string>
  devDependencies: Record<string, string>
} {
  return {
    type: 'module',
    scripts: { dev: 'fn dev', deploy: 'fn deploy', start: 'fn start', typecheck: 'tsc --noEmit' },
    dependencies: { jetfn: `^${own.version}`, zod: own.dependencies.zod ?? '^4' },
    devDependencies: {
      '@types/node': own.devDependencies['@types/node'] ?? '^20',
      typescript: own.devDependencies.typescript ?? '^5.9',
    },
  }
}

/** A valid npm package name made from a directory name (`My App` → `my-app`). */
export function packageName(dirName: string): string {
  const name = dirName
    .toLowerCase()
    .replace(/[^a-z0-9._~-]+/g, '-')
    .replace(/^[._-]+|-+$/g, '')
  return name || 'jetfn-app'
}

/** Every file of the scaffold except package.json, which is merged rather than written whole. */
export function templateFiles(): TemplateFile[] {
  return [
    {
      path: 'tsconfig.json',
      contents: `${JSON.stringify(
        {
          compilerOptions: {
            target: 'ES2023',
            lib: ['ES2023'],
            module: 'NodeNext',
            moduleResolution: 'NodeNext',
            verbatimModuleSyntax: true,
            strict: true,
            noEmit: true,
            skipLibCheck: true,
            types: ['node'],
          },
          include: ['functions', 'fn.config.ts'],
        },
        null,
        2,
      )}\n`,
    },
    {
      path: 'fn.config.ts',
      contents: `import { defineConfig } from 'jetfn'

// Every field is optional. \`fn dev\` starts its own nats-server (store in .fn/) unless NATS_URL
// is set; \`fn start\` connects to NATS_URL or nats.servers.
export default defineConfig({
  streams: [{ name: '${HELLO.stream}', subjects: ['hello.>'] }],
})
`,
    },
    {
      path: `functions/${HELLO.fn}.ts`,
      contents: `import { defineFunction } from 'jetfn'
import { z } from 'zod'

// Runs for every message on '${HELLO.subject}'. A payload that fails the schema is dead-lettered;
// a throw is retried with backoff; resolving acks the message.
export default defineFunction({
  subject: '${HELLO.subject}',
  schema: z.object({ name: z.string().min(1) }),
  async handler(event, ctx) {
    const greeting = \`Hello, \${event.data.name}!\`
    ctx.log.info({ greeting }, 'greeted')
    // Published (and confirmed by JetStream) only once the handler resolves.
    ctx.publish('hello.greeted', { greeting })
  },
})
`,
    },
  ]
}

/** Lines the scaffold's .gitignore must hold. */
export const GITIGNORE_LINES = ['node_modules/', '.fn/'] as const
