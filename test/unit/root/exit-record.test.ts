import test from 'ava';
import { describeRootExit, vifDownSentence } from '../../../lib/common/rpc/root.js';

test('#18: a root daemon killed by a signal is described by its number (its name if the number is unknown)', (t) => {
  t.is(describeRootExit({ signal: 'SIGKILL' }), 'killed by signal 9');
  t.is(describeRootExit({ signal: 'SIGSEGV' }), 'killed by signal 11');
  t.is(describeRootExit({ signal: 'SIGNOPE' }), 'killed by SIGNOPE');
});

test('#18: an exit code, or the reason the daemon stated when it left on its own, wins over a bare code', (t) => {
  t.is(describeRootExit({ code: 1 }), 'exited with code 1');
  t.is(describeRootExit({ code: 0, stated: 'its user daemon was gone for 10 s' }), 'its user daemon was gone for 10 s');
  t.is(describeRootExit({}), 'exited');
});

test('#18: the status sentence says what is down, why, and what to do', (t) => {
  t.is(
    vifDownSentence(describeRootExit({ signal: 'SIGKILL' })),
    'the VIF is down: the root daemon exited (killed by signal 9); run tp connect',
  );
});

test('#18: before the cause is known, the sentence still says what is down and what to do', (t) => {
  t.is(vifDownSentence(), 'the VIF is down: the root daemon exited; run tp connect');
});
