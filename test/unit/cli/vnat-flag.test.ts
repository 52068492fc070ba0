import test from 'ava';
import { vnatFlag } from '../../../lib/cli/commands/connect.js';

test('#16: tp connect --vnat takes ADDRESS/BITS or "all"; anything else is one sentence with the form to use', (t) => {
  t.is(vnatFlag('10.96.0.0/12'), '10.96.0.0/12');
  t.is(vnatFlag('fd00:10:96::/108'), 'fd00:10:96::/108');
  t.is(vnatFlag('all'), 'all');
  for (const bad of ['10.96.0.0', '10.96.0.0/33', 'fd00::/129', 'cluster/8', '']) {
    t.throws(() => vnatFlag(bad), { message: `--vnat "${bad}" is not a subnet` }, bad);
  }
});
