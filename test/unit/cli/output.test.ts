import test from 'ava';
import { parseOutput, table } from '../../../lib/cli/output.js';

test('--output takes json and yaml; anything else is a flag error naming the choices', (t) => {
  t.is(parseOutput(undefined), 'default');
  t.is(parseOutput('json'), 'json');
  t.is(parseOutput('yaml'), 'yaml');
  t.throws(() => parseOutput('xml'), { message: '--output "xml" is not a format' });
});

test('tables align columns and leave no trailing spaces', (t) => {
  t.is(table(['NAME', 'KIND'], [['echo', 'Deployment'], ['a-longer-name', 'StatefulSet']]), 'NAME            KIND\necho            Deployment\na-longer-name   StatefulSet');
});
