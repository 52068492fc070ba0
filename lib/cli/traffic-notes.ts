// The lines `tp list` prints under its table about engagements whose traffic the workstation did
// not get in full (issue #13): TLS on a filtered intercept's port, wiretap copies dropped. The
// wording is trafficNotes' (lib/common/rpc/engagement.ts), the one the Engagement's TLSSeen
// condition uses too; `-o json|yaml` carries the counts as `engagements[].traffic`.
import type { Workload } from '../common/rpc/manager.js';
import { trafficNotes } from '../common/rpc/engagement.js';

/** One line per note, naming the engagement and whose it is ("you" for `user`). */
export function trafficNoteLines(workloads: Workload[], user?: string): string[] {
  const lines: string[] = [];
  for (const w of workloads) {
    for (const e of w.engagements ?? []) {
      const who = user !== undefined && e.owner === user ? 'you' : e.owner;
      for (const note of trafficNotes(e)) lines.push(`${e.kind} ${e.name} of ${w.name} (${who}): ${note}`);
    }
  }
  return lines;
}
