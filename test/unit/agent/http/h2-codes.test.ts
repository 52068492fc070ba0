// #13: what one hop is told when the other hop reset a stream, and gRPC deadlines.
import test from 'ava';
import { constants } from 'node:http2';
import { agentAnswer, formatGrpcTimeout, isGrpc, mapResetCode, parseGrpcTimeout } from '../../../../lib/agent/http/h2-codes.js';

test('RST_STREAM codes about the request pass through; codes about one hop become INTERNAL_ERROR (RFC 9113 §7)', (t) => {
  for (const c of [
    'NGHTTP2_NO_ERROR',
    'NGHTTP2_CANCEL',
    'NGHTTP2_REFUSED_STREAM',
    'NGHTTP2_ENHANCE_YOUR_CALM',
    'NGHTTP2_CONNECT_ERROR',
    'NGHTTP2_HTTP_1_1_REQUIRED',
    'NGHTTP2_INTERNAL_ERROR',
  ] as const) {
    t.is(mapResetCode(constants[c]), constants[c], c);
  }
  for (const c of [
    'NGHTTP2_PROTOCOL_ERROR',
    'NGHTTP2_FLOW_CONTROL_ERROR',
    'NGHTTP2_FRAME_SIZE_ERROR',
    'NGHTTP2_COMPRESSION_ERROR',
    'NGHTTP2_STREAM_CLOSED',
    'NGHTTP2_SETTINGS_TIMEOUT',
  ] as const) {
    t.is(mapResetCode(constants[c]), constants.NGHTTP2_INTERNAL_ERROR, c);
  }
  t.is(mapResetCode(undefined), constants.NGHTTP2_CANCEL, 'a stream cut without a code was cancelled');
  t.is(mapResetCode(0xff), constants.NGHTTP2_INTERNAL_ERROR, 'an unknown code');
});

test('grpc-timeout: 1-8 digits and a unit; malformed ones are not enforced', (t) => {
  t.is(parseGrpcTimeout('100m'), 100);
  t.is(parseGrpcTimeout('2S'), 2000);
  t.is(parseGrpcTimeout('1H'), 3_600_000);
  t.is(parseGrpcTimeout('5000u'), 5);
  t.is(parseGrpcTimeout('123456789m'), undefined);
  t.is(parseGrpcTimeout('10'), undefined);
  t.is(parseGrpcTimeout(undefined), undefined);
  t.is(formatGrpcTimeout(0.2), '1m');
  t.is(formatGrpcTimeout(1234.5), '1235m');
  t.is(formatGrpcTimeout(200_000_000), '200000S');
  t.true(/^\d{1,8}[HMSmun]$/.test(formatGrpcTimeout(1e15)));
});

test('the agent’s own answer: trailers-only for gRPC, a status code otherwise', (t) => {
  t.true(isGrpc('application/grpc'));
  t.true(isGrpc('application/grpc+proto'));
  t.false(isGrpc('application/grpc-web'));
  const g = agentAnswer(true, 14, 'could not reach the app');
  t.like(g.headers, { ':status': 200, 'grpc-status': 14 });
  t.is(decodeURIComponent(String(g.headers['grpc-message'])), 'tp-agent: could not reach the app');
  t.is(g.body, undefined);
  const h = agentAnswer(false, 4, 'deadline');
  t.is(h.headers[':status'], 504);
});
