// Newline-delimited JSON for watch streams: one JSON value per line, '\n' terminated. JSON.stringify
// never emits a raw newline, so the framing needs no escaping.

import { StringDecoder } from 'node:string_decoder';
import { TunnelParseError } from './errors.js';

/** A line longer than this is refused: a peer must not make us buffer without bound. */
export const NDJSON_MAX_LINE = 1 << 20;

export const encodeNdjson = (value: unknown): string => `${JSON.stringify(value)}\n`;

/** Incremental decoder: chunks may split lines and UTF-8 sequences anywhere. */
export class NdjsonDecoder {
  #text = new StringDecoder('utf8');
  #partial = '';

  constructor(private readonly maxLine = NDJSON_MAX_LINE) {}

  /** Returns the values completed by this chunk. Throws TunnelParseError on a bad or huge line. */
  push(chunk: Buffer | string): unknown[] {
    const s = this.#partial + (typeof chunk === 'string' ? chunk : this.#text.write(chunk));
    const out: unknown[] = [];
    let start = 0;
    for (let nl = s.indexOf('\n'); nl !== -1; nl = s.indexOf('\n', start)) {
      const line = s.slice(start, nl);
      start = nl + 1;
      if (line.trim() === '') continue; // tolerate blank keep-alive lines
      out.push(parseLine(line));
    }
    this.#partial = s.slice(start);
    if (this.#partial.length > this.maxLine) {
      throw new TunnelParseError(`NDJSON line longer than ${this.maxLine} characters`);
    }
    return out;
  }

  /** Call at end of stream: a trailing line without '\n' is accepted, half a UTF-8 char is not. */
  end(): unknown[] {
    const s = this.#partial + this.#text.end();
    this.#partial = '';
    return s.trim() === '' ? [] : [parseLine(s)];
  }
}

function parseLine(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch (e) {
    throw new TunnelParseError(`bad NDJSON line (${(e as Error).message}): ${line.slice(0, 80)}`);
  }
}
