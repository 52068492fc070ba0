// tp's own Kubernetes objects (DESIGN.md §3 "Identity is Kubernetes'", issue #11): a Session per
// connected workstation and an Engagement per intercept/replace/ingest/wiretap. The client creates
// and deletes them with the user's own credentials, so RBAC decides who may connect and who may
// engage where, and the API server audits it; a ValidatingAdmissionPolicy in the chart refuses an
// owner that is not the requesting user. The traffic manager is their controller. This module is
// the one definition of their shapes, shared by the user daemon (creates) and the manager (reads,
// writes status); the CRDs in helm/templates/crds.yaml are their schemas.
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { EngagementKind, HttpFilterSpec, TrafficCounts } from './rpc/engagement.js';

export const TP_GROUP = 'tp.dev';
export const TP_VERSION_V1 = 'v1';
export const TP_API_VERSION = `${TP_GROUP}/${TP_VERSION_V1}`;
export const SESSIONS = { kind: 'Session', plural: 'sessions' } as const;
export const ENGAGEMENTS = { kind: 'Engagement', plural: 'engagements' } as const;

/** On each Engagement: the Session it belongs to, so a session's engagements are one selector away. */
export const SESSION_LABEL = 'tp.dev/session';
/** On each Engagement: the namespace of the manager whose session it is (several tp installations
 * may share a cluster; each reconciles only its own). */
export const MANAGER_LABEL = 'tp.dev/manager-namespace';

/** Who the API server says the user is (SelfSubjectReview), as admission compares it. */
export interface Owner {
  username: string;
  groups: string[];
}

export interface SessionSpec {
  owner: Owner;
  /** Non-secret, for people: user@host. */
  label: string;
  /** `sha256:<hex>` of the secret only the client knows; the manager compares hashes. */
  secretHash: string;
  clientVersion: string;
}
export interface SessionStatus {
  lastSeen?: string;
  expiresAt?: string;
}
export interface SessionObject {
  apiVersion: typeof TP_API_VERSION;
  kind: 'Session';
  metadata: ObjectMeta;
  spec: SessionSpec;
  status?: SessionStatus;
}

export interface EngagementSpec {
  type: EngagementKind;
  workload: { name: string; kind?: string };
  container?: string;
  /** REMOTE parts of `--port LOCAL[:REMOTE]`: container port numbers or names. */
  ports: string[];
  filter?: HttpFilterSpec;
  owner: Owner;
  /** The Session (in the manager's namespace) this engagement's traffic goes to. */
  session: { name: string; namespace: string };
}
export type EngagementPhase = 'Waiting' | 'Active' | 'Failed';
export interface Condition {
  /** TLSSeen: a filtered intercept's port carries TLS (issue #13); its filter cannot match. */
  type: 'AgentReady' | 'Routing' | 'TLSSeen';
  status: 'True' | 'False' | 'Unknown';
  reason: string;
  message: string;
  lastTransitionTime: string;
}
export interface EngagementStatus {
  state?: EngagementPhase;
  message?: string;
  conditions?: Condition[];
  /** What the manager resolved, for `kubectl get engagements` and `tp list`. */
  container?: string;
  ports?: string;
  filter?: string;
  workloadKind?: string;
  /** What the agents saw (issue #13), summed over them; written at most every few seconds. */
  traffic?: TrafficCounts;
}
export interface EngagementObject {
  apiVersion: typeof TP_API_VERSION;
  kind: 'Engagement';
  metadata: ObjectMeta;
  spec: EngagementSpec;
  status?: EngagementStatus;
}

export interface ObjectMeta {
  name?: string;
  generateName?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  creationTimestamp?: string | Date;
  deletionTimestamp?: string | Date;
  labels?: Record<string, string>;
}

/** A fresh session secret (256 random bits) and the hash that goes into the Session object. */
export function newSessionSecret(): { secret: string; hash: string } {
  const secret = randomBytes(32).toString('base64url');
  return { secret, hash: secretHashOf(secret) };
}

export const secretHashOf = (secret: string): string => `sha256:${createHash('sha256').update(secret, 'utf8').digest('hex')}`;

/** Whether `secret` is the one whose hash the Session holds, in time independent of where they differ. */
export function secretMatches(secret: string, hash: string): boolean {
  const a = Buffer.from(secretHashOf(secret));
  const b = Buffer.from(hash);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** A DNS-label-safe fragment of free text (a username, a host), for generated object names. */
export function nameFragment(s: string, max = 20): string {
  const f = s
    .toLowerCase()
    .replace(/^system:serviceaccount:[^:]*:/, '')
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '');
  return f.slice(0, max).replace(/-+$/, '') || 'user';
}

export const sameOwner = (a: Owner, b: Owner): boolean =>
  a.username === b.username && a.groups.length === b.groups.length && a.groups.every((g) => b.groups.includes(g));

/** `x-dev=alice path=/api`: how a filter reads in tables and status. */
export function filterText(f: HttpFilterSpec | undefined): string {
  if (!f) return '';
  const parts = Object.entries(f.headers).map(([k, v]) => `${k}=${v}`);
  if (f.pathPrefix) parts.push(`path=${f.pathPrefix}*`);
  return parts.join(' ');
}
