// The iptables rules of an engaged pod, as `iptables-restore --noflush` payloads. Pure: the state
// of the nat table comes in as `iptables-save -t nat` text, the payload goes out as text, so the
// exact bytes handed to iptables are unit-tested.
//
// Design (DESIGN.md §2, traffic agent):
//
//   nat PREROUTING ──▶ TP_INBOUND:  -p tcp --dport 8080 -j REDIRECT --to-ports 9900
//                                   -p udp --dport 5353 -j REDIRECT --to-ports 9901 …
//
// Why PREROUTING and only PREROUTING. Netfilter consults the nat table once per connection, on
// its first packet, in the hook where conntrack first sees it:
// - Traffic from other pods (directly, or via a Service after kube-proxy's DNAT on the node)
//   enters the pod's namespace through eth0, so its first packet meets nat PREROUTING: it is
//   redirected to the agent port.
// - The agent's own connection to the app (`127.0.0.1:8080`) is generated locally: its first
//   packet meets nat OUTPUT, not PREROUTING. When it comes back in through `lo` its conntrack
//   entry already exists, so nat PREROUTING is not consulted again: it reaches the app. No owner
//   match (uid of the agent) is needed, and nothing depends on which uid the agent runs as.
// - Everything the app sends (outbound connections, replies) is locally generated or belongs to
//   an existing connection: never redirected. We add nothing to OUTPUT.
// The price: the app calling its own pod IP directly is not redirected either (it goes through
// OUTPUT); calls through its Service leave the namespace and come back via PREROUTING, so they are.
//
// Why a chain of our own. Re-running must converge, not accumulate: the payload declares and
// flushes TP_INBOUND and refills it, so our rules are replaced as a whole, atomically (one
// iptables-restore transaction). The hook from PREROUTING cannot be made idempotent inside a
// payload (`-D` of a missing rule fails the whole transaction, `-A` twice duplicates), so the
// payload is planned from the current state: add the hook when there is none, delete extra ones.
// Removal is the same plan backwards: unhook, flush, delete the chain.
import type { AgentInitConfig, AgentPortMapping } from './config.js';

export const TABLE = 'nat';
export const CHAIN = 'TP_INBOUND';
export const HOOK_CHAIN = 'PREROUTING';
/** The hook as iptables-save prints it. */
export const HOOK_RULE = `-A ${HOOK_CHAIN} -j ${CHAIN}`;

/** What matters to us of the nat table, from `iptables-save -t nat`. */
export interface NatState {
  chainExists: boolean;
  /** How many `-A PREROUTING -j TP_INBOUND` rules there are (1 when all is well). */
  hooks: number;
  /** The rules of TP_INBOUND, in order, as iptables-save prints them. */
  chainRules: string[];
}

export function parseNatSave(text: string): NatState {
  const state: NatState = { chainExists: false, hooks: 0, chainRules: [] };
  let inNat = false;
  for (const raw of text.split('\n')) {
    const line = raw.trim().replace(/\s+/g, ' ');
    if (line.startsWith('*')) {
      inNat = line === `*${TABLE}`;
      continue;
    }
    if (!inNat) continue;
    if (line === 'COMMIT') inNat = false;
    else if (line.startsWith(`:${CHAIN} `)) state.chainExists = true;
    else if (line === HOOK_RULE) state.hooks++;
    else if (line.startsWith(`-A ${CHAIN} `)) state.chainRules.push(line);
  }
  return state;
}

function comment(m: AgentPortMapping): string {
  return `tp-agent: ${m.name ? `${m.name} ` : ''}${m.containerPort}/${m.protocol}`;
}

/** One REDIRECT rule, written exactly as iptables-save prints it back (so --check can compare). */
export function redirectRule(m: AgentPortMapping): string {
  const p = m.protocol === 'TCP' ? 'tcp' : 'udp';
  return `-A ${CHAIN} -p ${p} -m ${p} --dport ${m.containerPort} -m comment --comment "${comment(m)}" -j REDIRECT --to-ports ${m.agentPort}`;
}

export function redirectRules(config: AgentInitConfig): string[] {
  return config.ports.map(redirectRule);
}

/** The payload that makes the nat table hold exactly our rules and one hook, given its state. */
export function applyPayload(config: AgentInitConfig, state: NatState): string {
  const lines = ['*nat', `:${CHAIN} - [0:0]`, `-F ${CHAIN}`, ...redirectRules(config)];
  // First in PREROUTING: a rule of someone else's that accepts or DNATs earlier would bypass the agent.
  if (state.hooks === 0) lines.push(`-I ${HOOK_CHAIN} 1 -j ${CHAIN}`);
  for (let i = 1; i < state.hooks; i++) lines.push(`-D ${HOOK_CHAIN} -j ${CHAIN}`);
  lines.push('COMMIT');
  return lines.join('\n') + '\n';
}

/** The payload that removes the hook(s) and the chain; undefined when there is nothing to remove. */
export function removePayload(state: NatState): string | undefined {
  if (!state.chainExists && state.hooks === 0) return undefined;
  const lines = ['*nat'];
  for (let i = 0; i < state.hooks; i++) lines.push(`-D ${HOOK_CHAIN} -j ${CHAIN}`);
  if (state.chainExists) lines.push(`-F ${CHAIN}`, `-X ${CHAIN}`);
  lines.push('COMMIT');
  return lines.join('\n') + '\n';
}

/** What differs between the table and the config, one sentence each; empty when all is in place. */
export function checkState(config: AgentInitConfig, state: NatState): string[] {
  const problems: string[] = [];
  if (!state.chainExists) problems.push(`The nat chain ${CHAIN} does not exist.`);
  if (state.hooks !== 1) problems.push(`The nat chain ${HOOK_CHAIN} jumps to ${CHAIN} ${state.hooks} times instead of once.`);
  if (state.chainExists) {
    const want = redirectRules(config);
    const missing = want.filter((r) => !state.chainRules.includes(r));
    const extra = state.chainRules.filter((r) => !want.includes(r));
    for (const r of missing) problems.push(`The rule "${r}" is missing.`);
    for (const r of extra) problems.push(`The rule "${r}" is not in the config.`);
    const same = want.length === state.chainRules.length && want.every((r, i) => state.chainRules[i] === r);
    if (missing.length === 0 && extra.length === 0 && !same)
      problems.push(`The rules of ${CHAIN} are repeated or in another order than the config.`);
  }
  return problems;
}
