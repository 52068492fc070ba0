// Tests that need a built tool (helm, kube-apiserver, etcd): where it lives, and what a test does
// when it is missing. In CI — CI set, or TP_REQUIRE_BINARIES=1, which scripts/test sets — a missing
// binary is a failure that names it and scripts/setup: a skipped comparison must not pass as green.
// Elsewhere (`npx ava` on a workstation) the test is skipped with the reason in its title, and
// scripts/test's summary counts the skips.
import test, { type Implementation } from 'ava';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';

export interface Binary {
  name: string;
  path: string;
}

const CACHE = join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'tp'); // as scripts/lib/common.sh

/** Where scripts/setup puts them: helm, kube-apiserver and etcd built from Go modules
 * (scripts/lib/common.sh, binaries.sh); Debian's etcd 3.4 breaks watches under Kubernetes 1.34. */
export const HELM: Binary = { name: 'helm', path: process.env.TP_HELM_BIN ?? join(CACHE, 'helm-v3.22.0/helm') };
const KUBE_BIN = process.env.TP_KUBE_BIN_DIR ?? join(CACHE, 'k8s-v1.34.4');
export const KUBE_APISERVER: Binary = { name: 'kube-apiserver', path: join(KUBE_BIN, 'kube-apiserver') };
export const ETCD: Binary = { name: 'etcd', path: process.env.TP_ETCD_BIN ?? join(CACHE, 'etcd-v3.6.16/etcd') };
/** kubeconform and the Kubernetes JSON schemas it reads, made from the k8s.io/kubernetes module's
 * OpenAPI document (scripts/lib/binaries.sh, scripts/go/kubeconform). */
export const KUBECONFORM: Binary = {
  name: 'kubeconform',
  path: process.env.TP_KUBECONFORM_BIN ?? join(CACHE, 'kubeconform-v0.8.0/kubeconform'),
};
export const K8S_SCHEMA_VERSION = '1.34.4';
export const K8S_SCHEMAS: Binary = {
  name: 'the Kubernetes JSON schemas',
  path: process.env.TP_K8S_SCHEMAS ?? join(CACHE, `k8s-schemas-v${K8S_SCHEMA_VERSION}`),
};

const on = (v: string | undefined) => v !== undefined && v !== '' && v !== '0' && v !== 'false';
/** Whether a missing binary fails (CI) rather than skips (a workstation). */
export const binariesRequired = on(process.env.CI) || on(process.env.TP_REQUIRE_BINARIES);

export function missing(binaries: Binary[]): Binary[] {
  return binaries.filter((b) => !existsSync(b.path));
}

/** One sentence naming what is missing and how to get it. */
export function missingSentence(absent: Binary[]): string {
  const list = absent.map((b) => `${b.name} (${b.path})`).join(', ');
  return `missing ${list}: run scripts/setup, which provides ${absent.length === 1 ? 'it' : 'them'}`;
}

type Declare = (title: string, impl: Implementation<[]>) => void;

/**
 * `test` (or `test.serial`) for tests that need `binaries`. All present: the test as written.
 * One missing: in CI a test that fails with missingSentence(); elsewhere a skipped test whose
 * title carries the reason.
 */
export function testNeeding(binaries: Binary[], opts: { serial?: boolean } = {}): Declare {
  const absent = missing(binaries);
  const declare: Declare = opts.serial ? test.serial : test;
  if (absent.length === 0) return declare;
  const why = missingSentence(absent);
  if (binariesRequired) return (title) => declare(title, (t) => t.fail(why));
  return (title, impl) => test.skip(`${title} [skipped: ${why}]`, impl);
}
