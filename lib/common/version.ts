// The one place that knows tp's version: read from package.json next to dist/ at run time, so the
// CLI, the daemons and the in-cluster image always agree with what was built.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

function findPackageJson(): { version: string } {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    try {
      return JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { version: string };
    } catch {
      dir = dirname(dir);
    }
  }
  return { version: '0.0.0-unknown' };
}

export const TP_VERSION: string = findPackageJson().version;
