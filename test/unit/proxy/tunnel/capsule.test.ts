import test from 'ava';
import { CapsuleDecoder, MAX_DATAGRAM_CAPSULE, encodeDatagramCapsule } from '../../../../lib/proxy/tunnel/capsule.js';
import { TunnelParseError } from '../../../../lib/proxy/tunnel/errors.js';
import { writeVarint, varintLen } from '../../../../lib/proxy/tunnel/varint.js';

function collect() {
  const out: string[] = [];
  const dec = new CapsuleDecoder((p) => out.push(p.toString('latin1')));
  return { dec, out };
}

test('RFC 9297: a DATAGRAM capsule is type 0, varint length, context id 0, payload', (t) => {
  t.is(encodeDatagramCapsule(Buffer.from('abc')).toString('hex'), '0004' + '00' + '616263');
  // A 100-byte payload needs a two-byte length (101 > 63).
  const big = encodeDatagramCapsule(Buffer.alloc(100, 1));
  t.is(big.subarray(0, 4).toString('hex'), '00406500');
  t.is(big.length, 4 + 100);
});

test('an empty datagram is legal', (t) => {
  const { dec, out } = collect();
  dec.push(encodeDatagramCapsule(Buffer.alloc(0)));
  t.deepEqual(out, ['']);
});

test('capsules split at every byte boundary decode to the same datagrams', (t) => {
  const wire = Buffer.concat([
    encodeDatagramCapsule(Buffer.from('first')),
    encodeDatagramCapsule(Buffer.alloc(300, 0x61)),
    encodeDatagramCapsule(Buffer.from('last')),
  ]);
  for (let cut = 0; cut <= wire.length; cut++) {
    const { dec, out } = collect();
    dec.push(wire.subarray(0, cut));
    dec.push(wire.subarray(cut));
    t.deepEqual(out, ['first', 'a'.repeat(300), 'last'], `cut at ${cut}`);
    t.true(dec.atBoundary);
  }
});

test('one byte at a time still decodes', (t) => {
  const wire = Buffer.concat([encodeDatagramCapsule(Buffer.from('x')), encodeDatagramCapsule(Buffer.from('yz'))]);
  const { dec, out } = collect();
  for (const b of wire) dec.push(Buffer.from([b]));
  t.deepEqual(out, ['x', 'yz']);
});

test('RFC 9297 §3.2: unknown capsule types are skipped, even when split across chunks', (t) => {
  const unknown = Buffer.concat([Buffer.from([0x3f]), Buffer.from([0x40, 200]), Buffer.alloc(200, 0xee)]);
  const wire = Buffer.concat([unknown, encodeDatagramCapsule(Buffer.from('ok'))]);
  const { dec, out } = collect();
  dec.push(wire.subarray(0, 10));
  t.false(dec.atBoundary);
  dec.push(wire.subarray(10));
  t.deepEqual(out, ['ok']);
  t.is(dec.stats.skippedUnknown, 1);
});

test('RFC 9298 §4: a datagram with a non-zero context id is dropped and counted', (t) => {
  const { dec, out } = collect();
  dec.push(Buffer.from([0x00, 0x03, 0x02, 0x61, 0x62])); // context 2, payload "ab"
  dec.push(encodeDatagramCapsule(Buffer.from('c')));
  t.deepEqual(out, ['c']);
  t.is(dec.stats.droppedContext, 1);
});

test('malformed: a DATAGRAM capsule longer than any UDP payload is a parse error', (t) => {
  const len = MAX_DATAGRAM_CAPSULE + 1;
  const head = Buffer.alloc(1 + varintLen(len));
  writeVarint(head, 1, len);
  const { dec } = collect();
  const err = t.throws(() => dec.push(head));
  t.true(err instanceof TunnelParseError);
  t.regex(err!.message, /exceeds/);
});

test('malformed: a zero-length DATAGRAM capsule has no context id', (t) => {
  const { dec } = collect();
  const err = t.throws(() => dec.push(Buffer.from([0x00, 0x00])));
  t.true(err instanceof TunnelParseError);
  t.regex(err!.message, /context id/);
});

test('malformed: a context id that runs past the capsule end', (t) => {
  const { dec } = collect();
  // length 1 but the context id varint announces 2 bytes
  t.throws(() => dec.push(Buffer.from([0x00, 0x01, 0x40])), { instanceOf: TunnelParseError });
});

test('a stream cut inside a capsule is not at a boundary (RFC 9297 §3.3)', (t) => {
  const { dec } = collect();
  dec.push(encodeDatagramCapsule(Buffer.from('abcdef')).subarray(0, 4));
  t.false(dec.atBoundary);
});

test('random garbage yields datagrams or a TunnelParseError, never another exception', (t) => {
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
  for (let i = 0; i < 2000; i++) {
    const buf = Buffer.from(Array.from({ length: 1 + (rnd() % 40) }, rnd));
    const { dec } = collect();
    try {
      dec.push(buf);
    } catch (err) {
      t.true(err instanceof TunnelParseError, String(err));
    }
  }
  t.pass();
});
