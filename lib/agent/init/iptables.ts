// The edge of tp-agent-init: running iptables-save / iptables-restore, and turning their failures
// into one sentence and an exit code. Everything that decides what to run lives in rules.ts.
import { spawn } from 'node:child_process';
import { TABLE } from './rules.js';
import { TpError } from '../../common/errors.js';

/** Exit codes of tp-agent-init (the kubelet shows them in the pod's status). */
export const EXIT = {
  ok: 0,
  /** iptables failed for another reason, or --check found the rules not in place. */
  failed: 1,
  /** Bad usage or an invalid config: the manager wrote something this image does not accept. */
  badConfig: 2,
  /** iptables-save / iptables-restore are not installed in the image. */
  noIptables: 3,
  /** No CAP_NET_ADMIN: iptables' own exit code for "Permission denied (you must be root)". */
  noNetAdmin: 4,
} as const;

export type ErrorCode =
  | 'E_AGENT_INIT_CONFIG'
  | 'E_AGENT_INIT_USAGE'
  | 'E_AGENT_INIT_NO_IPTABLES'
  | 'E_AGENT_INIT_NET_ADMIN'
  | 'E_AGENT_INIT_IPTABLES'
  | 'E_AGENT_INIT_CHECK';

export class AgentInitError extends TpError {
  declare readonly code: ErrorCode;
  constructor(
    code: ErrorCode,
    message: string,
    readonly exitCode: number,
    readonly opts: { hint?: string; details?: string[]; cause?: unknown } = {},
  ) {
    super(code, message, { hint: opts.hint, cause: opts.cause });
    this.name = 'AgentInitError';
  }
}

/** The two commands tp-agent-init needs; a fake in unit tests. */
export interface Iptables {
  /** `iptables-save -t nat`. */
  saveNat(): Promise<string>;
  /** `iptables-restore --noflush` with `payload` on stdin. */
  restore(payload: string): Promise<void>;
}

export interface CommandFailure {
  /** `ENOENT` when the binary is missing; else undefined. */
  errno?: string;
  exitCode?: number | null;
  stderr: string;
}

/**
 * Classifies a failed iptables command. `namespace` is the pod's namespace, for the NET_ADMIN
 * sentence: the capability is granted in the pod spec, but admission (Pod Security, a policy
 * engine) of that namespace may reject or strip it.
 */
export function classifyFailure(cmd: string, f: CommandFailure, namespace: string | undefined): AgentInitError {
  if (f.errno === 'ENOENT') {
    return new AgentInitError(
      'E_AGENT_INIT_NO_IPTABLES',
      `tp-agent-init cannot run ${cmd}: it is not installed in the image (it needs iptables 1.8 with the nf_tables backend).`,
      EXIT.noIptables,
    );
  }
  const firstLine =
    f.stderr
      .trim()
      .split('\n')
      .find((l) => l.trim() !== '')
      ?.trim() ?? '';
  // iptables exits with 4 (RESOURCE_PROBLEM) when netlink refuses it; the text is the surer sign.
  if (/Permission denied|Operation not permitted|you must be root/i.test(f.stderr) || (f.exitCode === 4 && firstLine === '')) {
    const where = namespace ? `namespace ${namespace}` : "the pod's namespace";
    return new AgentInitError(
      'E_AGENT_INIT_NET_ADMIN',
      `tp-agent-init needs the NET_ADMIN capability: the pod security policy/admission of ${where} may strip it.`,
      EXIT.noNetAdmin,
      {
        hint: 'allow NET_ADMIN for the tp-agent-init init container in that namespace (Pod Security level "privileged", or an exception in the policy engine)',
        details: firstLine ? [firstLine] : [],
      },
    );
  }
  const why = firstLine || `exit code ${f.exitCode ?? 'unknown'}`;
  return new AgentInitError(
    'E_AGENT_INIT_IPTABLES',
    `${cmd} failed in the pod's network namespace: ${why.replace(/\.$/, '')}.`,
    EXIT.failed,
    { details: f.stderr.trim() ? [f.stderr.trim()] : [] },
  );
}

function runCommand(
  cmd: string,
  args: string[],
  input: string | undefined,
  timeoutMs: number,
): Promise<{ stdout: string } | CommandFailure> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let settled = false;
    const finish = (v: { stdout: string } | CommandFailure) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      resolve(v);
    };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish({ exitCode: null, stderr: `${cmd} did not finish within ${timeoutMs / 1000} s` });
    }, timeoutMs);
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (err: NodeJS.ErrnoException) => finish({ errno: err.code ?? 'EUNKNOWN', exitCode: null, stderr: err.message }));
    child.on('close', (code) => finish(code === 0 ? { stdout } : { exitCode: code, stderr }));
    // A missing binary fails the spawn and EPIPEs stdin; the 'error' of the child tells why.
    child.stdin.on('error', () => {});
    child.stdin.end(input ?? '');
  });
}

/** The real commands, from PATH. */
export function systemIptables(namespace: string | undefined, opts: { timeoutMs?: number } = {}): Iptables {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  return {
    async saveNat() {
      const r = await runCommand('iptables-save', ['-t', TABLE], undefined, timeoutMs);
      if ('stdout' in r) return r.stdout;
      throw classifyFailure('iptables-save', r, namespace);
    },
    async restore(payload) {
      // -w: wait for the xtables lock (legacy backend) instead of failing when another init
      // container of the pod (a service mesh's) holds it; the nft backend ignores it.
      const r = await runCommand('iptables-restore', ['-w', '5', '--noflush'], payload, timeoutMs);
      if ('stdout' in r) return;
      throw classifyFailure('iptables-restore', r, namespace);
    },
  };
}
