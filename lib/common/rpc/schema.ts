// One checker for every request body that crosses a seam (issue #17): a schema is written once,
// the checker turns untrusted JSON into a typed value, and the message type is `Infer<typeof
// schema>`, so the shape a handler sees and the shape the server checks cannot drift apart.
//
// A refusal is ONE error naming the bad field by its path, in one wording everywhere:
//   `ports[2].local: must be an integer from 1 to 65535`
// A schema may word its own refusal instead (a CLI flag's sentence, with code E_FLAG and a hint),
// because the user typed a flag, not a JSON field.
//
// Rules every schema keeps, because the input is hostile:
// - Limits are not optional: a string has a maxLength, a list maxItems, a map maxEntries.
// - Unknown object fields are refused (a typo must not be silently dropped); a seam whose peers
//   may be of other versions (the tunnel: workstation ↔ cluster) says `unknown: 'strip'`.
// - Only declared fields are read (own properties only) and copied: `__proto__` or `constructor`
//   in the input is an unknown field, never a prototype. Maps are built with Object.fromEntries,
//   which defines own properties, so such a key there stays a harmless key.
// - The checker walks only as deep as the schema; nothing recurses over the input itself, and a
//   refused value is shown only when it is a primitive (cut to 80 characters).
// - `null` is the same as absent for optional fields and defaults (JSON has no undefined).
//
// Why not zod/valibot: the needs are a dozen kinds, per-field error codes and hints, and the exact
// path wording above — about 250 lines with no dependency. A library would add its module graph
// to every daemon's start-up, and to the CLI's one bundle as soon as the CLI imports a seam module
// that holds a schema (issue #14 cut `tp version` to 78 ms; today the bundle holds no schema), and
// its messages would need a mapping layer to keep our sentences anyway.
import { TpError, type ErrorCode } from '../errors.js';

/** How refusals leave the checker: a TpError (E_BAD_REQUEST unless the schema names its own code),
 * which each seam's server answers in the one wire shape (unix-http's toCallError, the tunnel's
 * bad-request answer). Not a seam's own class: schema.ts sits below every seam module. */
export function schemaError(message: string, opts: { code?: ErrorCode; hint?: string } = {}): Error {
  return new TpError(opts.code ?? 'E_BAD_REQUEST', message, opts.hint === undefined ? {} : { hint: opts.hint });
}

/** Where in the input a value sits: a linked list, formatted only when something is refused. */
interface At {
  readonly parent: At | undefined;
  readonly key: string | number;
}

/** A refusal inside the checker; check() turns it into schemaError. Map functions throw it
 * through refuse(). */
class Refusal {
  constructor(
    readonly reason: string,
    public at: At | undefined,
    readonly own?: { message: string; code?: ErrorCode; hint?: string },
  ) {}
}

/** Wording a schema may give its own refusals: `message` replaces the whole sentence (no path). */
export interface Wording {
  /** The end of "PATH: must be …" (default: derived from the limits). */
  expected?: string;
  /** The whole sentence, for refusals the user reads as a flag's fault. */
  message?: (value: unknown) => string;
  code?: ErrorCode;
  hint?: string;
}

export interface Schema<T> {
  /** What a valid value is, as the end of "must be …". */
  readonly expected: string;
  readonly run: (value: unknown, at: At | undefined) => T;
}
/** A field that may be absent (or null): the object's type makes it optional. */
export interface OptionalSchema<T> extends Schema<T | undefined> {
  readonly optional: true;
}

export type Infer<S> = S extends Schema<infer T> ? T : never;
type Simplify<T> = { [K in keyof T]: T[K] } & {};
type Fields = Record<string, Schema<unknown>>;
type ObjectOf<F extends Fields> = Simplify<
  { -readonly [K in keyof F as F[K] extends { optional: true } ? never : K]: Infer<F[K]> } & {
    -readonly [K in keyof F as F[K] extends { optional: true } ? K : never]?: Exclude<Infer<F[K]>, undefined>;
  }
>;

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** A value as a refusal may quote it: primitives only, never a structure (it may be deep). */
export function show(v: unknown): string {
  if (typeof v === 'string') return JSON.stringify(v.length > 80 ? `${v.slice(0, 80)}…` : v);
  if (typeof v === 'number' || typeof v === 'boolean' || v === null || v === undefined) return String(v);
  return Array.isArray(v) ? 'a list' : typeof v === 'object' ? 'an object' : typeof v;
}

const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/;
function formatPath(at: At | undefined): string {
  let out = '';
  for (let a = at; a; a = a.parent) {
    const k = a.key;
    out = (typeof k === 'number' ? `[${k}]` : IDENT.test(k) ? (a.parent ? `.${k}` : k) : `[${show(k)}]`) + out;
  }
  return out;
}

function fail(w: Wording, value: unknown, at: At | undefined, reason: string): never {
  throw new Refusal(
    reason,
    at,
    w.message
      ? { message: w.message(value), code: w.code, hint: w.hint }
      : w.code || w.hint
        ? { message: '', code: w.code, hint: w.hint }
        : undefined,
  );
}

/** Checks `value` against `schema`: the typed value, or a thrown schemaError naming the field. */
export function check<T>(schema: Schema<T>, value: unknown): T {
  try {
    return schema.run(value, undefined);
  } catch (e) {
    if (!(e instanceof Refusal)) throw e;
    const path = formatPath(e.at);
    const message = e.own?.message || (path ? `${path}: ${e.reason}` : `the request ${e.reason}`);
    return throwError(message, e.own);
  }
}
function throwError(message: string, opts: { code?: ErrorCode; hint?: string } | undefined): never {
  throw schemaError(message, { ...(opts?.code ? { code: opts.code } : {}), ...(opts?.hint ? { hint: opts.hint } : {}) });
}

/** A validator for an ApiDefinition (lib/common/rpc/api.ts). */
export const validator =
  <T>(schema: Schema<T>) =>
  (body: unknown): T =>
    check(schema, body);

/** Thrown from a map() function: the checker adds the path. */
export function refuse(reason: string): never {
  throw new Refusal(reason, undefined);
}

// ---- Kinds --------------------------------------------------------------------------------

/** A string within the lengths; with a pattern, `what` names what it must be (`a namespace name`):
 * `namespace: "A" is not a namespace name`, and `namespace: must be a namespace name` for a
 * value of another type or length. */
export function string(o: Wording & { maxLength: number; minLength?: number; pattern?: RegExp; what?: string }): Schema<string> {
  const min = o.minLength ?? 0;
  const chars = `${o.maxLength} character${o.maxLength === 1 ? '' : 's'}`;
  const expected =
    o.expected ??
    o.what ??
    (min === 0 ? `a string of at most ${chars}` : min === 1 ? `a non-empty string of at most ${chars}` : `a string of ${min} to ${chars}`);
  return {
    expected,
    run(v, at) {
      if (typeof v !== 'string' || v.length < min || v.length > o.maxLength) fail(o, v, at, `must be ${expected}`);
      if (o.pattern && !o.pattern.test(v)) fail(o, v, at, `${show(v)} is not ${o.what ?? `of the form ${o.pattern.source}`}`);
      return v;
    },
  };
}

/** One of a few strings: `kind: must be intercept, replace, ingest or wiretap`. */
export function oneOf<const V extends readonly string[]>(values: V, o: Wording = {}): Schema<V[number]> {
  const expected = o.expected ?? (values.length === 1 ? show(values[0]) : `${values.slice(0, -1).join(', ')} or ${values.at(-1)}`);
  return {
    expected,
    run(v, at) {
      if (typeof v !== 'string' || !values.includes(v)) fail(o, v, at, `must be ${expected}`);
      return v as V[number];
    },
  };
}

export function literal<const V extends string | number | boolean>(value: V, o: Wording = {}): Schema<V> {
  const expected = o.expected ?? show(value);
  return {
    expected,
    run(v, at) {
      if (v !== value) fail(o, v, at, `must be ${expected}`);
      return value;
    },
  };
}

function numeric(integer: boolean, o: Wording & { min?: number; max?: number }): Schema<number> {
  const noun = integer ? 'an integer' : 'a number';
  const range =
    o.min !== undefined && o.max !== undefined
      ? ` from ${o.min} to ${o.max}`
      : o.min !== undefined
        ? ` of at least ${o.min}`
        : o.max !== undefined
          ? ` of at most ${o.max}`
          : '';
  const expected = o.expected ?? noun + range;
  return {
    expected,
    run(v, at) {
      const ok = typeof v === 'number' && (integer ? Number.isSafeInteger(v) : Number.isFinite(v));
      if (!ok || (o.min !== undefined && v < o.min) || (o.max !== undefined && v > o.max)) fail(o, v, at, `must be ${expected}`);
      return v;
    },
  };
}
/** A safe integer (±2^53), within min/max. */
export const integer = (o: Wording & { min?: number; max?: number } = {}) => numeric(true, o);
/** A finite number, within min/max. */
export const number = (o: Wording & { min?: number; max?: number } = {}) => numeric(false, o);

export function boolean(o: Wording = {}): Schema<boolean> {
  const expected = o.expected ?? 'true or false';
  return {
    expected,
    run(v, at) {
      if (typeof v !== 'boolean') fail(o, v, at, `must be ${expected}`);
      return v;
    },
  };
}

/** A list of at most maxItems; `unique: 'refuse'` refuses a repeated item, `'drop'` keeps the
 * first of each (items compared with ===, so for lists of primitives). */
export function array<T>(of: Schema<T>, o: Wording & { maxItems: number; unique?: 'refuse' | 'drop' }): Schema<T[]> {
  const expected = o.expected ?? `a list of at most ${o.maxItems} items`;
  return {
    expected,
    run(v, at) {
      if (!Array.isArray(v) || v.length > o.maxItems) fail(o, v, at, `must be ${expected}`);
      const out: T[] = [];
      const seen = o.unique ? new Set<unknown>() : undefined;
      for (let i = 0; i < v.length; i++) {
        const item = of.run(v[i], { parent: at, key: i });
        if (seen) {
          if (seen.has(item)) {
            if (o.unique === 'drop') continue;
            fail(o, v[i], { parent: at, key: i }, `${show(v[i])} is given twice`);
          }
          seen.add(item);
        }
        out.push(item);
      }
      return out;
    },
  };
}

/** How an object treats fields it does not declare: refused (the default; `unknownHint` says what
 * to do, e.g. when the peer may be of another version), or dropped (`'strip'`). */
export interface UnknownFields {
  unknown?: 'refuse' | 'strip';
  unknownHint?: string;
}

/** An object with these fields. */
export function object<F extends Fields>(fields: F, o: Wording & UnknownFields = {}): Schema<ObjectOf<F>> {
  const expected = o.expected ?? 'an object';
  const names = Object.keys(fields);
  return {
    expected,
    run(v, at) {
      if (!isObject(v)) fail(o, v, at, `must be ${expected}`);
      if (o.unknown !== 'strip') {
        for (const k of Object.keys(v)) {
          if (!Object.hasOwn(fields, k)) {
            fail(
              { code: o.code, hint: o.unknownHint ?? o.hint },
              v[k],
              { parent: at, key: k },
              `is not a field of ${at ? 'this object' : 'this request'} (${names.join(', ') || 'it has none'})`,
            );
          }
        }
      }
      const out: Record<string, unknown> = {};
      for (const k of names) {
        const r = fields[k]!.run(Object.hasOwn(v, k) ? v[k] : undefined, { parent: at, key: k });
        if (r !== undefined) out[k] = r;
      }
      return out as ObjectOf<F>;
    },
  };
}

/** A map of string keys (checked by `key`, default: any string of at most 256 characters). */
export function record<T>(value: Schema<T>, o: Wording & { maxEntries: number; key?: Schema<string> }): Schema<Record<string, T>> {
  const expected = o.expected ?? `an object of at most ${o.maxEntries} entries`;
  const key = o.key ?? string({ maxLength: 256 });
  return {
    expected,
    run(v, at) {
      if (!isObject(v)) fail(o, v, at, `must be ${expected}`);
      const keys = Object.keys(v);
      if (keys.length > o.maxEntries) fail(o, v, at, `must be ${expected}`);
      // fromEntries defines own properties: a "__proto__" key stays a key, never a prototype.
      return Object.fromEntries(keys.map((k) => [key.run(k, { parent: at, key: k }), value.run(v[k], { parent: at, key: k })]));
    },
  };
}

/** The first schema that accepts the value; when none does, one refusal naming all. */
export function union<S extends readonly Schema<unknown>[]>(schemas: S, o: Wording = {}): Schema<Infer<S[number]>> {
  const expected = o.expected ?? schemas.map((s) => s.expected).join(' or ');
  return {
    expected,
    run(v, at) {
      for (const s of schemas) {
        try {
          return s.run(v, at) as Infer<S[number]>;
        } catch (e) {
          if (!(e instanceof Refusal)) throw e;
        }
      }
      return fail(o, v, at, `must be ${expected}`);
    },
  };
}

/** May be absent or null (→ undefined, and the field is optional in the object's type). */
export function optional<T>(schema: Schema<T>): OptionalSchema<T> {
  return {
    optional: true,
    expected: schema.expected,
    run: (v, at) => (v === undefined || v === null ? undefined : schema.run(v, at)),
  };
}

/** Absent or null reads as `value` (a copy: a handler may change what it got). */
export function withDefault<T>(schema: Schema<T>, value: T): Schema<T> {
  return { expected: schema.expected, run: (v, at) => (v === undefined || v === null ? structuredClone(value) : schema.run(v, at)) };
}

/** Checks with `schema`, then turns the value into another (normalises, or refuses with refuse();
 * any other error it throws passes through unchanged, e.g. a flag's own sentence). */
export function map<T, U>(schema: Schema<T>, fn: (value: T) => U, expected = schema.expected): Schema<U> {
  return {
    expected,
    run(v, at) {
      const t = schema.run(v, at);
      try {
        return fn(t);
      } catch (e) {
        if (e instanceof Refusal && e.at === undefined) e.at = at;
        throw e;
      }
    },
  };
}

/** The body of a call that takes no arguments: absent, null or `{}`; a field in it is refused
 * unless `unknown: 'strip'`. */
export const empty = (o: Wording & UnknownFields = {}): Schema<Record<string, never>> =>
  withDefault(object({}, o) as Schema<Record<string, never>>, {});

/** Compile-time agreement of a schema with a message type declared apart from it: the checked
 * value can be used as the declared type, and both name the same fields. Use as
 * `true satisfies Agrees<Declared, typeof schema>;` beside the schema. */
export type Agrees<Declared, S extends Schema<unknown>> = [Infer<S>] extends [Declared]
  ? [keyof Declared] extends [keyof Infer<S>]
    ? [keyof Infer<S>] extends [keyof Declared]
      ? true
      : false
    : false
  : false;
