// Loading a chart directory and rendering it the way `helm template` / `helm install` do:
// every file under templates/ is parsed into one set (so defines are shared), each non-partial
// file is executed, and the YAML documents are split, checked and sorted into install order.

import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { checkValues } from './schema.js';
import { HelmError } from './errors.js';
import { sortByInstallOrder } from './kinds.js';
import { TemplateSet } from './template/exec.js';
import { FUNCS } from './template/funcs.js';
import { isMap, type Value } from './template/gofmt.js';
import { coalesce, parseYaml, type Values } from './values.js';

export interface ChartFile {
  /** Path inside the chart, '/'-separated: `templates/deployment.yaml`. */
  name: string;
  data: Buffer;
}

export interface Chart {
  dir: string;
  /** Chart.yaml as written (field names as in the file: name, version, appVersion, …). */
  metadata: Record<string, Value>;
  /** values.yaml, parsed. */
  values: Values;
  templates: ChartFile[];
  /** Everything else that Helm would keep in the chart (README, .helmignore, …). */
  files: ChartFile[];
  schema: Buffer | null;
}

export interface Manifest {
  /** `tp/templates/deployment.yaml`: Helm's "# Source:" name. */
  source: string;
  /** The YAML document, trimmed, as Helm stores it in the release manifest. */
  content: string;
  object: KubeObject;
}

export interface KubeObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  [k: string]: unknown;
}

export interface RenderOptions {
  releaseName: string;
  namespace: string;
  /** User overrides (already merged from -f/--set); chart defaults are added underneath. */
  values?: Values;
  /** What `.Capabilities.KubeVersion` reports; `helm template` uses its built-in default. */
  kubeVersion?: string;
  /** Extra API versions for `.Capabilities.APIVersions.Has`. */
  apiVersions?: string[];
  isUpgrade?: boolean;
  revision?: number;
}

export interface Rendered {
  manifests: Manifest[];
  /** Helm's release manifest: `---\n# Source: …\n<doc>\n` per manifest. */
  manifest: string;
  notes: string;
  /** The values the templates saw (defaults + overrides). */
  values: Values;
}

const DEFAULT_KUBE_VERSION = 'v1.34.0';

export function loadChart(dir: string): Chart {
  const read = (name: string): Buffer | null => {
    try {
      return readFileSync(join(dir, name));
    } catch {
      return null;
    }
  };
  const chartYaml = read('Chart.yaml');
  if (!chartYaml) {
    throw new HelmError('E_HELM_CHART', `${dir} is not a chart: Chart.yaml is missing`,
      { hint: 'reinstall tp: the package ships its chart in helm/' });
  }
  const metadata = parseYaml(chartYaml.toString('utf8'));
  if (!isMap(metadata) || typeof metadata.name !== 'string' || typeof metadata.version !== 'string') {
    throw new HelmError('E_HELM_CHART', `${join(dir, 'Chart.yaml')} needs a name and a version`);
  }
  if (metadata.apiVersion !== 'v2') {
    throw new HelmError('E_HELM_CHART', `${join(dir, 'Chart.yaml')}: only apiVersion v2 charts are supported`);
  }
  if (metadata.dependencies) {
    throw new HelmError('E_HELM_CHART', `${metadata.name}: chart dependencies are not supported by tp's renderer`);
  }
  const valuesText = read('values.yaml')?.toString('utf8') ?? '';
  const values = parseYaml(valuesText) ?? {};
  if (!isMap(values)) throw new HelmError('E_HELM_CHART', `${join(dir, 'values.yaml')} must hold a map`);

  const ignore = ignoreRules(read('.helmignore')?.toString('utf8') ?? '');
  const templates: ChartFile[] = [];
  const files: ChartFile[] = [];
  for (const name of walk(dir)) {
    if (ignore(name)) continue;
    if (name === 'Chart.yaml' || name === 'values.yaml' || name === 'values.schema.json') continue;
    const data = readFileSync(join(dir, name));
    (name.startsWith('templates/') ? templates : files).push({ name, data });
  }
  return { dir, metadata, values, templates, files, schema: read('values.schema.json') };
}

export function renderChart(chartOrDir: string | Chart, opts: RenderOptions): Rendered {
  const chart = typeof chartOrDir === 'string' ? loadChart(chartOrDir) : chartOrDir;
  const name = chart.metadata.name as string;
  const values = coalesce(opts.values ?? {}, chart.values);
  // Helm checks the final values against values.schema.json before rendering; so do we.
  if (chart.schema) checkValues(chart.schema.toString('utf8'), values, name);

  const set = new TemplateSet(FUNCS);
  for (const t of chart.templates) set.add(`${name}/${t.name}`, t.data.toString('utf8'));

  const root = topLevel(chart, values, opts);
  const outputs = new Map<string, string>();
  for (const t of [...chart.templates].sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const file = `${name}/${t.name}`;
    const text = set.execute(file, { ...root, Template: { Name: file, BasePath: `${name}/templates` } });
    // Helm prints missing values as "<no value>" and then erases that text, and so do we.
    outputs.set(file, text.replaceAll('<no value>', ''));
  }

  let notes = '';
  const manifests: Manifest[] = [];
  for (const [file, text] of outputs) {
    const base = file.slice(file.lastIndexOf('/') + 1);
    if (file === `${name}/templates/NOTES.txt`) { notes = text; continue; }
    if (base.startsWith('_') || text.trim() === '') continue;
    for (const content of splitDocuments(text)) manifests.push(toManifest(file, content));
  }
  const sorted = sortByInstallOrder(manifests, (m) => m.object.kind);
  const manifest = sorted.map((m) => `---\n# Source: ${m.source}\n${m.content}\n`).join('');
  return { manifests: sorted, manifest, notes, values };
}

/** Helm's document split: a `---` line (with whatever spaces around it) separates documents. */
export function splitDocuments(text: string): string[] {
  return text.trim().split(/(?:^|\s*\n)---\s*/).filter((d) => d !== '').map((d) => d.trim());
}

function toManifest(source: string, content: string): Manifest {
  let obj: Value;
  try {
    obj = parseYaml(content);
  } catch (e) {
    throw new HelmError('E_HELM_MANIFEST', `YAML parse error on ${source}: ${(e as Error).message}`, { cause: e });
  }
  if (!isMap(obj) || typeof obj.kind !== 'string' || typeof obj.apiVersion !== 'string'
    || !isMap(obj.metadata) || typeof obj.metadata.name !== 'string') {
    throw new HelmError('E_HELM_MANIFEST', `${source} rendered a document without apiVersion, kind and metadata.name`);
  }
  const annotations = obj.metadata.annotations;
  if (isMap(annotations) && 'helm.sh/hook' in annotations) {
    throw new HelmError('E_HELM_MANIFEST', `${source}: Helm hooks are not supported by tp's installer`);
  }
  return { source, content, object: obj as unknown as KubeObject };
}

/** The objects templates see: .Values, .Release, .Chart, .Capabilities (and .Template per file). */
function topLevel(chart: Chart, values: Values, opts: RenderOptions): Record<string, Value> {
  const kube = opts.kubeVersion ?? DEFAULT_KUBE_VERSION;
  const m = /^v?(\d+)\.(\d+)/.exec(kube);
  if (!m) throw new HelmError('E_HELM_VALUES', `kube version ${JSON.stringify(kube)} is not like v1.34.0`);
  const apiVersions = new Set(opts.apiVersions ?? []);
  return {
    Values: values,
    Release: {
      Name: opts.releaseName,
      Namespace: opts.namespace,
      IsUpgrade: opts.isUpgrade ?? false,
      IsInstall: !(opts.isUpgrade ?? false),
      Revision: opts.revision ?? 1,
      Service: 'Helm',
    },
    Chart: chartObject(chart.metadata),
    Capabilities: {
      KubeVersion: { Version: kube.startsWith('v') ? kube : `v${kube}`, Major: m[1], Minor: m[2],
        GitVersion: kube.startsWith('v') ? kube : `v${kube}` },
      APIVersions: { Has: (v: Value) => typeof v === 'string' && apiVersions.has(v) },
      HelmVersion: { Version: 'v3.22.0' },
    },
    Files: {},
  };
}

/** Helm exposes Chart.yaml through Go struct fields: `appVersion` is `.Chart.AppVersion`. */
function chartObject(meta: Record<string, Value>): Record<string, Value> {
  const special: Record<string, string> = { apiVersion: 'APIVersion', appVersion: 'AppVersion', kubeVersion: 'KubeVersion' };
  const out: Record<string, Value> = {};
  for (const [k, v] of Object.entries(meta)) out[special[k] ?? k[0]!.toUpperCase() + k.slice(1)] = v;
  return out;
}

function walk(dir: string): string[] {
  const out: string[] = [];
  const visit = (d: string) => {
    for (const e of readdirSync(d).sort()) {
      const p = join(d, e);
      if (statSync(p).isDirectory()) visit(p);
      else out.push(relative(dir, p).split(sep).join('/'));
    }
  };
  visit(dir);
  return out;
}

/** Enough of .helmignore for our chart: comments, `*`/`?` globs on the base name or the path. */
function ignoreRules(text: string): (name: string) => boolean {
  const globs = text.split('\n').map((l) => l.trim()).filter((l) => l && !l.startsWith('#'))
    .map((g) => new RegExp('^' + g.replace(/\/$/, '').replace(/[.+^${}()|[\]\\]/g, '\\$&')
      .replace(/\*/g, '[^/]*').replace(/\?/g, '[^/]') + '$'));
  return (name) => {
    const base = name.slice(name.lastIndexOf('/') + 1);
    return globs.some((g) => g.test(name) || g.test(base));
  };
}
