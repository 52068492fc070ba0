// The agent's side of `--mount`: one OpenSSH `sftp-server` per tunnel stream, speaking SFTP over
// the stream as it would over an ssh channel (DESIGN §6: the client runs `sshfs -o slave` on the
// other end). sftp-server does the protocol, path handling and permissions; we only move bytes.
//
// The ways a session ends, and what we do:
//   - the client is done: the stream's readable side ends → sftp-server's stdin ends → it exits;
//   - the stream fails or is destroyed (tunnel gone): sftp-server is killed;
//   - sftp-server exits (or cannot start): the stream is ended (destroyed when it never started).
// serveSftp resolves once the child is gone and both directions are settled; it never rejects.
import { spawn } from 'node:child_process';
import { access, constants } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Duplex } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { Level, Logger } from '../common/log.js';

export const DEFAULT_SFTP_SERVER = '/usr/lib/openssh/sftp-server';

export interface SftpServeOptions {
  /** Where relative paths start (`sftp-server -d`); the client mounts absolute paths below it. */
  root: string;
  /** Refuse every request that would change the file system (`sftp-server -R`). */
  readOnly: boolean;
  log: Logger;
  /** Default /usr/lib/openssh/sftp-server (Debian's openssh-sftp-server). */
  sftpServerPath?: string;
}

/** sftp-server's own log level for ours: its INFO logs each open and close, which is debug to us. */
const SFTP_LOG_LEVEL: Record<Level, string> = {
  trace: 'DEBUG1',
  debug: 'INFO',
  info: 'ERROR',
  warn: 'ERROR',
  error: 'ERROR',
};

/** Serves SFTP on `stream` until either side ends; see the list at the top of the file. */
export async function serveSftp(stream: Duplex, opts: SftpServeOptions): Promise<void> {
  const log = opts.log.child({ component: 'sftp' });
  const bin = opts.sftpServerPath ?? DEFAULT_SFTP_SERVER;
  try {
    await access(bin, constants.X_OK);
  } catch (err) {
    log.error('cannot serve volumes: sftp-server is not installed', {
      path: bin,
      err,
      hint: 'the agent image needs OpenSSH sftp-server (Debian: apt-get install openssh-sftp-server)',
    });
    stream.destroy();
    return;
  }

  // -d expands %d/%u/%% in its argument (sshd_config TOKENS); a literal % must be doubled.
  const root = resolve(opts.root).replaceAll('%', '%%');
  const args = ['-e', '-l', SFTP_LOG_LEVEL[log.level], '-d', root];
  if (opts.readOnly) args.push('-R');
  const child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
  const exited = new Promise<void>((res) => {
    child.once('error', (err) => {
      log.error('cannot start sftp-server', { path: bin, err });
      stream.destroy();
      res();
    });
    child.once('close', (code, signal) => {
      log.debug('sftp-server exited', { code, signal });
      res();
    });
  });
  log.debug('sftp-server started', { pid: child.pid, root: opts.root, readOnly: opts.readOnly });

  let stderrTail = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => {
    const lines = (stderrTail + chunk).split('\n');
    stderrTail = lines.pop()!;
    // sftp-server -e ends its lines with \r\n (it writes for a terminal).
    for (const line of lines) if (line.trim()) log.debug('sftp-server', { line: line.trimEnd() });
  });

  // A stream that dies takes the server with it: nobody is left to read its answers.
  const kill = () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
  };
  stream.once('close', kill);
  stream.once('error', kill);

  // pipeline: each direction stops reading its source while the destination is not writable.
  const toServer = pipeline(stream, child.stdin).catch((err) => {
    log.debug('client → sftp-server ended', { err });
    kill();
  });
  const toClient = pipeline(child.stdout, stream).catch((err) => {
    log.debug('sftp-server → client ended', { err });
    kill();
  });
  await Promise.all([exited, toServer, toClient]);
  if (stderrTail.trim()) log.debug('sftp-server', { line: stderrTail.trimEnd() });
  stream.off('close', kill);
  stream.off('error', kill);
}
