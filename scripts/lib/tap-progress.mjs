// Shows a TAP stream from ava as one line per test, and the failure details as they come.
import readline from 'node:readline';

const rl = readline.createInterface({ input: process.stdin });
let inFailure = false;
for await (const line of rl) {
  if (/^(not )?ok \d+/.test(line)) {
    inFailure = line.startsWith('not ok');
    console.log(line);
  } else if (inFailure || line.startsWith('#') || line.startsWith('Bail out')) {
    console.log(line);
  }
}
