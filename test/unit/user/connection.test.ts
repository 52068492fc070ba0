import test from 'ava';
import { parseHostPort } from '../../../lib/user/connection.js';

test('--socks accepts HOST:PORT, [IPv6]:PORT and a bare port', (t) => {
  t.deepEqual(parseHostPort('127.0.0.1:1080', '--socks'), { host: '127.0.0.1', port: 1080 });
  t.deepEqual(parseHostPort('[::1]:9050', '--socks'), { host: '::1', port: 9050 });
  t.deepEqual(parseHostPort('1081', '--socks'), { host: '127.0.0.1', port: 1081 });
});

test('--socks rejects what is not an address with a sentence naming the flag', (t) => {
  t.throws(() => parseHostPort('localhost', '--socks'), { message: /--socks "localhost" is not HOST:PORT/ });
  t.throws(() => parseHostPort('127.0.0.1:70000', '--socks'), { message: /out of range/ });
});
