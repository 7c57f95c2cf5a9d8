/**
 * What a GitLab job refers to in the repository: scripts it runs, Dockerfiles it builds, files its
 * rules and cache keys name, npm scripts it calls. Read from the pipeline as gitlab-ci-local
 * expands it (extends, !reference and defaults resolved), so what is checked is what GitLab runs.
 */

export type Job = Record<string, unknown> & {
  script?: unknown;
  before_script?: unknown;
  after_script?: unknown;
  parallel?: { matrix?: Record<string, string | string[]>[] };
};

export interface Reference {
  job: string;
  kind: 'path' | 'executable' | 'npm-script';
  value: string;
}

function lines(v: unknown): string[] {
  if (v === undefined || v === null) return [];
  if (typeof v === 'string') return [v];
  if (Array.isArray(v)) return v.flatMap(lines);
  return [];
}

/** Every combination of a job's parallel:matrix variables (one empty set without a matrix). */
export function matrixCombinations(job: Job): Record<string, string>[] {
  const matrix = job.parallel?.matrix;
  if (!matrix?.length) return [{}];
  return matrix.flatMap((entry) =>
    Object.entries(entry).reduce<Record<string, string>[]>(
      (acc, [key, values]) => acc.flatMap((combo) => (Array.isArray(values) ? values : [values]).map((v) => ({ ...combo, [key]: v }))),
      [{}],
    ),
  );
}

function expand(text: string, vars: Record<string, string>): string {
  return text.replace(/\$\{(\w+)\}|\$(\w+)/g, (m, a: string | undefined, b: string | undefined) => vars[(a ?? b)!] ?? m);
}

// Repository paths as they appear in commands: under the project's own folders, or a Dockerfile.
const PATH_TOKEN = /(?<![\w/$.-])((?:\.ci|ci|scripts|charts|test|examples|config|crds)\/[\w./-]*[\w-]|Dockerfile(?:\.[\w-]+)?|sonar-project\.properties)(?![\w/-])/g;

/** Paths, executables and npm scripts a job's before_script/script/after_script refer to. */
export function jobReferences(name: string, job: Job): Reference[] {
  const out: Reference[] = [];
  for (const vars of matrixCombinations(job)) {
    for (const raw of [...lines(job.before_script), ...lines(job.script), ...lines(job.after_script)]) {
      const line = expand(raw, vars);
      // A command whose first word is a repository path must be executable.
      const first = /^\s*(\.?[\w-]+\/[\w./-]+)/.exec(line)?.[1];
      if (first) out.push({ job: name, kind: 'executable', value: first.replace(/^\.\//, '') });
      for (const m of line.matchAll(PATH_TOKEN)) {
        if (m[1] !== first) out.push({ job: name, kind: 'path', value: m[1]! });
      }
      for (const m of line.matchAll(/\bnpm run(?:-script)? +(?:-s +|--silent +)?([\w:.-]+)/g)) out.push({ job: name, kind: 'npm-script', value: m[1]! });
    }
  }
  return out;
}

/** Files named by rules:changes and cache:key:files: a typo there silently changes when jobs run. */
export function ruleAndCacheFiles(name: string, job: Job): Reference[] {
  const out: Reference[] = [];
  const rules = Array.isArray(job.rules) ? (job.rules as Record<string, unknown>[]) : [];
  for (const rule of rules) {
    const changes = rule.changes;
    const paths = Array.isArray(changes) ? changes : (changes as { paths?: unknown } | undefined)?.paths;
    for (const p of lines(paths)) out.push({ job: name, kind: 'path', value: p });
  }
  const caches = Array.isArray(job.cache) ? job.cache : job.cache ? [job.cache] : [];
  for (const c of caches as { key?: { files?: unknown } }[]) {
    for (const f of lines(c.key?.files)) out.push({ job: name, kind: 'path', value: f });
  }
  return out;
}

/** The jobs of an expanded pipeline: every top-level key that is a job (not a keyword, not hidden). */
export function jobsOf(pipeline: Record<string, unknown>): Record<string, Job> {
  const keywords = new Set(['stages', 'workflow', 'variables', 'default', 'include', 'image', 'services', 'cache', 'before_script', 'after_script']);
  return Object.fromEntries(
    Object.entries(pipeline).filter(([k, v]) => !keywords.has(k) && !k.startsWith('.') && v !== null && typeof v === 'object' && !Array.isArray(v)),
  ) as Record<string, Job>;
}
