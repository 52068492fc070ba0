// The release record Helm 3 keeps in the release namespace, so that `helm list`, `helm upgrade`,
// `helm rollback` and `helm uninstall` can take over a release tp installed (and the reverse).
//
// Storage (Helm's "secret" driver): a Secret `sh.helm.release.v1.<name>.v<revision>` of type
// `helm.sh/release.v1`, labels owner=helm, name, status, version (plus createdAt / modifiedAt),
// and data.release = base64(gzip(JSON of the release)). Kubernetes base64-encodes Secret data
// again on the wire, so the API shows the JSON base64-encoded twice.
//
// The JSON mirrors Helm's Go structs (pkg/release.Release, Info; pkg/chart.Chart, Metadata, File):
// field names and their order, `omitempty` where Helm has it, []byte as base64, times in RFC 3339.

import { gunzipSync, gzipSync } from 'node:zlib';
import type { Chart, ChartFile } from './chart.js';
import { HelmError } from './errors.js';
import type { Value } from './template/gofmt.js';
import type { Values } from './values.js';

export const RELEASE_SECRET_TYPE = 'helm.sh/release.v1';

export type ReleaseStatus = 'unknown' | 'deployed' | 'uninstalled' | 'superseded' | 'failed'
  | 'uninstalling' | 'pending-install' | 'pending-upgrade' | 'pending-rollback';

export interface ReleaseInfo {
  first_deployed?: string;
  last_deployed?: string;
  deleted: string;
  description?: string;
  status?: ReleaseStatus;
  notes?: string;
}

export interface ReleaseFile { name: string; data: string /* base64 */ }

export interface ReleaseChart {
  metadata: Record<string, Value>;
  lock: null;
  templates: ReleaseFile[];
  values: Values | null;
  schema: string | null;
  files: ReleaseFile[];
}

export interface Release {
  name: string;
  info: ReleaseInfo;
  chart: ReleaseChart;
  config?: Values;
  manifest?: string;
  version: number;
  namespace: string;
}

/** Helm's own time type writes a zero time as "" (`deleted` has no omitempty, so it is always there). */
const ZERO_TIME = '';

/** Helm's Metadata struct fields in declaration order (JSON keys as in Chart.yaml). */
const METADATA_FIELDS = ['name', 'home', 'sources', 'version', 'description', 'keywords',
  'maintainers', 'icon', 'apiVersion', 'condition', 'tags', 'appVersion', 'deprecated',
  'annotations', 'kubeVersion', 'dependencies', 'type'];

export const releaseSecretName = (name: string, version: number) => `sh.helm.release.v1.${name}.v${version}`;

export function buildRelease(p: {
  chart: Chart;
  name: string;
  namespace: string;
  version: number;
  status: ReleaseStatus;
  description: string;
  config: Values;
  manifest: string;
  notes?: string;
  firstDeployed: Date;
  lastDeployed: Date;
}): Release {
  const info: ReleaseInfo = {
    first_deployed: p.firstDeployed.toISOString(),
    last_deployed: p.lastDeployed.toISOString(),
    deleted: ZERO_TIME,
    description: p.description,
    status: p.status,
  };
  if (p.notes) info.notes = p.notes;
  const rel: Release = {
    name: p.name,
    info,
    chart: chartRecord(p.chart),
    ...(Object.keys(p.config).length ? { config: sortKeys(p.config) as Values } : {}),
    ...(p.manifest ? { manifest: p.manifest } : {}),
    version: p.version,
    namespace: p.namespace,
  };
  return rel;
}

export function setStatus(rel: Release, status: ReleaseStatus, description: string, now?: Date): Release {
  const info: ReleaseInfo = { ...rel.info, status, description };
  if (now) info.last_deployed = now.toISOString();
  return { ...rel, info };
}

function chartRecord(chart: Chart): ReleaseChart {
  const metadata: Record<string, Value> = {};
  for (const k of METADATA_FIELDS) {
    const v = chart.metadata[k];
    // omitempty: Go leaves out "", false, 0, nil and empty lists/maps.
    if (v === undefined || v === null || v === '' || v === false || v === 0) continue;
    if (Array.isArray(v) && v.length === 0) continue;
    if (typeof v === 'object' && !Array.isArray(v) && Object.keys(v).length === 0) continue;
    metadata[k] = v;
  }
  const file = (f: ChartFile): ReleaseFile => ({ name: f.name, data: f.data.toString('base64') });
  return {
    metadata,
    lock: null,
    templates: chart.templates.map(file),
    values: sortKeys(chart.values) as Values,
    schema: chart.schema ? chart.schema.toString('base64') : null,
    files: chart.files.map(file),
  };
}

/** Go's encoding/json writes map keys sorted; do the same so records compare byte for byte. */
function sortKeys(v: Value): Value {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === 'object' && !(v instanceof Uint8Array)) {
    const m = v as Record<string, Value>;
    return Object.fromEntries(Object.keys(m).sort().map((k) => [k, sortKeys(m[k])]));
  }
  return v;
}

/** The string Helm stores in data.release: base64(gzip(json)), gzip at best compression like Helm. */
export function encodeRelease(rel: Release): string {
  return gzipSync(Buffer.from(JSON.stringify(rel)), { level: 9 }).toString('base64');
}

export function decodeRelease(data: string): Release {
  try {
    let b = Buffer.from(data, 'base64');
    // Records from before Helm compressed them are plain JSON; Helm still reads those.
    if (b.length > 3 && b[0] === 0x1f && b[1] === 0x8b && b[2] === 0x08) b = gunzipSync(b);
    return JSON.parse(b.toString('utf8')) as Release;
  } catch (e) {
    throw new HelmError('E_HELM_RELEASE_RECORD', `cannot decode a Helm release record: ${(e as Error).message}`, { cause: e });
  }
}

export interface SecretObject {
  apiVersion: 'v1';
  kind: 'Secret';
  metadata: { name: string; namespace: string; labels: Record<string, string>; resourceVersion?: string };
  type: string;
  data: { release: string };
}

/**
 * The Secret for one revision. Helm's driver labels the first write with createdAt and each
 * update with modifiedAt only (the update rebuilds the labels), both in Unix seconds.
 */
export function releaseSecret(rel: Release, t: { created?: Date; modified?: Date } = {}): SecretObject {
  const labels: Record<string, string> = {};
  if (t.created) labels.createdAt = String(Math.floor(t.created.getTime() / 1000));
  if (t.modified) labels.modifiedAt = String(Math.floor(t.modified.getTime() / 1000));
  Object.assign(labels, {
    name: rel.name,
    owner: 'helm',
    status: rel.info.status ?? 'unknown',
    version: String(rel.version),
  });
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: releaseSecretName(rel.name, rel.version), namespace: rel.namespace, labels },
    type: RELEASE_SECRET_TYPE,
    // Kubernetes wants Secret data base64-encoded; Helm's payload is itself base64 text.
    data: { release: Buffer.from(encodeRelease(rel)).toString('base64') },
  };
}

/** Read a Release back from a Secret as the API returns it (data base64-encoded). */
export function releaseFromSecret(secret: { data?: Record<string, string> }): Release {
  const data = secret.data?.release;
  if (!data) throw new HelmError('E_HELM_RELEASE_RECORD', 'a Helm release Secret has no data.release');
  return decodeRelease(Buffer.from(data, 'base64').toString('utf8'));
}
