import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { compile, policyWithRules } from '../../test/helpers/policy.js';
import type { Action, Impact, Principal } from '../core/types.js';
import { CEL_DEFER, CEL_ERROR, createCelCompiler, type CelClosure } from './cel-compile.js';
import { createCelContext, createCelEnvironment, type CelContext } from './cel-environment.js';

const env = createCelEnvironment();
const compiler = createCelCompiler(env);

const PRINCIPAL: Principal = { agent: 'deploy-bot', instance: 'i-1', role: 'deployer', session: 's-1', task: 'T-1' };
const IMPACT: Impact = {
  known: true,
  unknown: [],
  replicas: 3,
  trafficFraction: 0.1,
  totalTrafficFraction: 0.25,
  dependents: ['ledger', 'search'],
  reversible: true,
  resources: [],
  endpoints: [{ input: 'db', host: 'db', port: null, zone: 'prod-internal', zoneEnvironment: 'prod' }],
};

function contextWith(params: Record<string, unknown>, impact: Partial<Impact> = {}, principal: Partial<Principal> = {}): CelContext {
  const action: Action = { tool: 'restart_service', operation: 'restart', environment: 'prod', params, intent: 'experiment 7', targets: [{ kind: 'service', id: 'search' }] };
  return createCelContext({ ...PRINCIPAL, ...principal }, action, { ...IMPACT, ...impact });
}

type Outcome = { readonly threw: false; readonly value: unknown } | { readonly threw: true; readonly error: unknown };

function run(f: CelClosure, context: CelContext): Outcome {
  try {
    return { threw: false, value: f(context) };
  } catch (error) {
    return { threw: true, error };
  }
}

/** The cel-js evaluator and the raw closure of a checked expression in the subset. */
function both(expression: string): { slow: CelClosure; fast: CelClosure; condition: CelClosure } {
  const checked = env.check(expression);
  if (!checked.valid) throw new Error(`${expression}: ${checked.error?.message}`);
  const parsed = env.parse(expression);
  const fast = compiler.closure(parsed.ast);
  if (!fast) throw new Error(`${expression} is outside the fast subset`);
  return { slow: parsed as unknown as CelClosure, fast, condition: compiler.condition(parsed) };
}

/**
 * Asserts the raw closure agrees with cel-js: the same value, or cel-js throws
 * too when the closure reports a CEL error. CEL_DEFER is allowed (cel-js decides);
 * the condition with the fallback must then agree in every case.
 */
function expectAgreement(expression: string, fast: CelClosure, slow: CelClosure, condition: CelClosure, context: CelContext): 'agreed' | 'deferred' {
  const expected = run(slow, context);
  const got = run(fast, context);
  const label = `${expression} with params ${describeParams(context)}`;
  const wrapped = run(condition, context);
  expect(wrapped.threw, label).toBe(expected.threw);
  if (!wrapped.threw && !expected.threw) expect(wrapped.value, label).toStrictEqual(expected.value);
  if (got.threw && got.error === CEL_DEFER) return 'deferred';
  if (got.threw) {
    expect(expected, `${label}: the closure threw ${show(got.error)}`).toMatchObject({ threw: true });
  } else {
    expect(expected, `${label}: the closure returned ${show(got.value)}`).toMatchObject({ threw: false });
    if (!expected.threw) expect(got.value, label).toStrictEqual(expected.value);
  }
  return 'agreed';
}

function describeParams(context: CelContext): string {
  return show(context.action.params);
}

function show(v: unknown): string {
  if (v instanceof Error) return v.message;
  try {
    return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `${x}n` : x === undefined ? 'undefined' : x)) ?? String(v);
  } catch {
    return '(unprintable)';
  }
}

/** Evaluates with both and asserts they agree; returns cel-js's outcome for further checks. */
function agree(expression: string, context: CelContext): Outcome {
  const { slow, fast, condition } = both(expression);
  expect(expectAgreement(expression, fast, slow, condition, context), `${expression} deferred`).toBe('agreed');
  return run(slow, context);
}

const value = (o: Outcome) => (o.threw ? 'throws' : o.value);

// ---------------------------------------------------------------------------
// Generators

const STRING_LITERALS = ['""', '"a"', '"x"', '"deployer"', '"prod"', '"ledger"', '"experiment"', '"😀"', '"constructor"', '"__proto__"', '"1"', "'dba'"];
const INT_LITERALS = ['0', '1', '3', '-1', '9007199254740993'];
const DOUBLE_LITERALS = ['0.0', '0.5', '1.0', '2.5', '3.0', '-0.0', '1e3'];
const KEYS = ['a', 'b', 'n', 's', 'l', 'm', 'flag', 'constructor', '__proto__', 'toString', 'missing'];
const STRING_FIELDS = ['principal.agent', 'principal.role', 'principal.task', 'action.tool', 'action.operation', 'action.environment', 'action.intent', 'action.sql', 'impact.sql.class'];
const LIST_FIELDS = ['impact.dependents', 'impact.zones', 'action.targets', 'action.endpoints'];
const DOUBLE_FIELDS = ['impact.replicas', 'impact.trafficFraction', 'impact.totalTrafficFraction', 'impact.rows', 'impact.rowFraction'];
const BOOL_FIELDS = ['impact.known', 'impact.reversible', 'impact.sql.destructive', 'impact.sql.writes', 'impact.sql.ddl', 'impact.drift.drifting'];
const UNDECLARED = ['principal.foo', 'action.bar', 'impact.baz'];

const key = fc.oneof({ arbitrary: fc.constantFrom('n', 's', 'l', 'm', 'flag', 'a', 'b'), weight: 4 }, { arbitrary: fc.constantFrom(...KEYS), weight: 1 });
const param = fc.oneof(
  key.map((k) => `action.params.${k}`),
  key.map((k) => `action.params["${k}"]`),
  fc.tuple(key, key).map(([a, b]) => `action.params.${a}.${b}`),
);
const stringLiteral = fc.constantFrom(...STRING_LITERALS);
const numberLiteral = fc.constantFrom(...INT_LITERALS, ...DOUBLE_LITERALS);
const listLiteral = fc.oneof(
  fc.array(stringLiteral, { minLength: 1, maxLength: 3 }).map((xs) => `[${xs.join(', ')}]`),
  fc.array(fc.constantFrom(...INT_LITERALS), { minLength: 1, maxLength: 3 }).map((xs) => `[${xs.join(', ')}]`),
  fc.array(fc.constantFrom(...DOUBLE_LITERALS), { minLength: 1, maxLength: 3 }).map((xs) => `[${xs.join(', ')}]`),
  fc.constantFrom('[true]', '[]', '[null]', '["a", 1]'),
);
const path = fc.oneof(
  fc.constantFrom(...STRING_FIELDS, ...LIST_FIELDS, ...DOUBLE_FIELDS, ...BOOL_FIELDS, ...UNDECLARED, 'action.params'),
  param.filter((p) => !p.includes('[')),
);
const atom = fc.oneof(
  stringLiteral,
  numberLiteral,
  fc.constantFrom('true', 'false', 'null'),
  fc.constantFrom(...STRING_FIELDS, ...LIST_FIELDS, ...DOUBLE_FIELDS, ...BOOL_FIELDS, ...UNDECLARED, 'action.params'),
  param,
  listLiteral,
  path.map((p) => `has(${p})`),
);

/** Expressions from the subset grammar, well typed or not (cel-js's check decides). */
const anyExpression = fc.letrec<{ e: string }>((tie) => ({
  e: fc.oneof(
    { maxDepth: 3, depthIdentifier: 'any' },
    atom,
    fc.tuple(tie('e'), fc.constantFrom('==', '!=', '<', '<=', '>', '>=', 'in', '&&', '||'), tie('e')).map(([a, op, b]) => `(${a} ${op} ${b})`),
    tie('e').map((a) => `!${a}`),
    tie('e').map((a) => `-${a}`),
    fc.tuple(tie('e'), tie('e'), tie('e')).map(([c, a, b]) => `(${c} ? ${a} : ${b})`),
    tie('e').map((a) => `size(${a})`),
    tie('e').map((a) => `(${a}).size()`),
    fc.tuple(tie('e'), fc.constantFrom('startsWith', 'endsWith', 'contains'), tie('e')).map(([a, m, b]) => `(${a}).${m}(${b})`),
  ),
})).e;

/** Boolean expressions built from operands of matching types, so that most of them check. */
const boolExpression = fc.letrec<{ b: string; s: string; n: string; l: string }>((tie) => ({
  s: fc.oneof({ maxDepth: 2, depthIdentifier: 'typed' }, stringLiteral, fc.constantFrom(...STRING_FIELDS), param, fc.tuple(tie('b'), tie('s'), tie('s')).map(([c, a, b]) => `(${c} ? ${a} : ${b})`)),
  n: fc.oneof(
    { maxDepth: 2, depthIdentifier: 'typed' },
    numberLiteral,
    fc.constantFrom(...DOUBLE_FIELDS),
    param,
    tie('l').map((l) => `size(${l})`),
    tie('s').map((s) => `${s}.size()`),
    tie('n').map((n) => `-(${n})`),
  ),
  l: fc.oneof({ maxDepth: 2, depthIdentifier: 'typed' }, listLiteral, fc.constantFrom(...LIST_FIELDS), param),
  b: fc.oneof(
    { maxDepth: 3, depthIdentifier: 'typed' },
    fc.constantFrom('true', 'false', ...BOOL_FIELDS),
    path.map((p) => `has(${p})`),
    param,
    fc.tuple(tie('s'), fc.constantFrom('==', '!=', '<', '>='), tie('s')).map(([a, op, b]) => `${a} ${op} ${b}`),
    fc.tuple(tie('n'), fc.constantFrom('==', '!=', '<', '<=', '>', '>='), tie('n')).map(([a, op, b]) => `${a} ${op} ${b}`),
    fc.tuple(fc.oneof(tie('s'), tie('n')), tie('l')).map(([a, l]) => `${a} in ${l}`),
    fc.tuple(tie('s'), fc.constantFrom('startsWith', 'endsWith', 'contains'), tie('s')).map(([a, m, b]) => `${a}.${m}(${b})`),
    fc.tuple(tie('b'), fc.constantFrom('&&', '||'), tie('b')).map(([a, op, b]) => `(${a} ${op} ${b})`),
    tie('b').map((b) => `!(${b})`),
    fc.tuple(tie('b'), tie('b'), tie('b')).map(([c, a, b]) => `(${c} ? ${a} : ${b})`),
    fc.tuple(param, fc.constantFrom('==', '!=', '<', '>=', 'in'), fc.oneof(stringLiteral, numberLiteral, listLiteral, fc.constantFrom('true', 'null'), param)).map(([a, op, b]) => `${a} ${op} ${b}`),
    fc.tuple(fc.oneof(stringLiteral, numberLiteral, fc.constantFrom('true', 'null')), fc.constantFrom('==', '!=', '<', '>=', 'in'), param).map(([a, op, b]) => `${a} ${op} ${b}`),
  ),
})).b;

function objectOf(entries: ReadonlyArray<readonly [string, unknown]>, nullPrototype: boolean): Record<string, unknown> {
  const o: Record<string, unknown> = nullPrototype ? Object.create(null) : {};
  // defineProperty, so that "__proto__" becomes an own key as JSON.parse makes it.
  for (const [k, v] of entries) Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  return o;
}

// Scalars that meet the literals of the generated expressions, and a few edge cases.
const scalar = fc.oneof(
  fc.constantFrom('', 'a', 'x', 'deployer', 'ledger', 'experiment', '😀', '1', 'constructor', '\uD800'),
  fc.constantFrom(0, 1, 3, -1, 2.5, 0.5, 1000, 3.5),
  fc.constantFrom(-0, 1e21, 9007199254740992, Number.NaN, Number.POSITIVE_INFINITY),
  fc.boolean(),
  fc.constant(null),
  fc.constantFrom(0n, 3n, -1n),
);
// Values no JSON request can carry: the closure must defer or agree.
const unusual = fc.constantFrom<unknown>(undefined, new Map([['a', 1]]), new Set(['a']), new Date(0), () => 1, new Uint8Array([1]), { constructor: 'x' });
const paramValue = fc.letrec<{ v: unknown }>((tie) => ({
  v: fc.oneof(
    { maxDepth: 2, depthIdentifier: 'value' },
    { arbitrary: scalar, weight: 8 },
    { arbitrary: fc.array(tie('v'), { maxLength: 3 }), weight: 2 },
    { arbitrary: fc.tuple(fc.array(fc.tuple(key, tie('v')), { maxLength: 3 }), fc.boolean()).map(([entries, nullProto]) => objectOf(entries, nullProto)), weight: 2 },
    { arbitrary: unusual, weight: 1 },
  ),
})).v;
// Parameters by key, each mostly of one shape, so that expressions meet values they can
// compare; any key may hold anything now and then.
const shaped = (arbitrary: fc.Arbitrary<unknown>) => fc.oneof({ arbitrary, weight: 4 }, { arbitrary: paramValue, weight: 1 });
const PARAM_SHAPES = new Map<string, fc.Arbitrary<unknown>>([
  ['n', shaped(fc.oneof(fc.constantFrom(0, 1, 3, -1, 2.5, 0.5, 1000, 3.5), fc.constantFrom(3n, 1n)))],
  ['s', shaped(fc.constantFrom('', 'a', 'x', 'deployer', 'ledger', 'experiment', '😀', '1'))],
  ['flag', shaped(fc.oneof(fc.boolean(), fc.constantFrom('true', 1, null)))],
  ['l', shaped(fc.array(fc.oneof(fc.constantFrom('a', 'x', 'ledger'), fc.constantFrom(0, 1, 3, 2.5)), { maxLength: 3 }))],
  ['m', shaped(fc.array(fc.tuple(key, scalar), { maxLength: 3 }).map((entries) => objectOf(entries, false)))],
]);
// Most keys present, so that expressions mostly read values rather than miss them;
// a top-level "constructor" key (which makes cel-js reject the map) only now and then.
const params = fc
  .tuple(
    fc.subarray(KEYS.filter((k) => k !== 'constructor'), { minLength: 5 }),
    fc.tuple(...KEYS.map((k) => PARAM_SHAPES.get(k) ?? paramValue)),
    fc.integer({ min: 0, max: 19 }),
  )
  .map(([keys, values, n]) => objectOf([...keys, ...(n === 1 ? ['constructor'] : [])].map((k) => [k, values[KEYS.indexOf(k)]] as const), n === 0));
const words = fc.constantFrom('', 'a', 'x', 'deployer', 'dba', 'ledger', 'experiment 7', 'prod', '😀');
/** What the analyzers may have found about an action's SQL: nothing (no SQL), a read, a write of known size, a destructive script of unknown size. */
const DATA_IMPACTS: readonly Partial<Impact>[] = [
  {},
  { ...sqlImpact('read', false, false, false), rowEstimate: { known: true, statements: [] }, rows: 0, rowFraction: 0, drift: { drifting: false, baselines: [], changes: [], issues: [] } },
  { ...sqlImpact('write', false, true, false), rowEstimate: { known: true, statements: [] }, rows: 1204, rowFraction: 0.24, drift: { drifting: false, baselines: [], changes: [], issues: [] } },
  { ...sqlImpact('destructive', true, true, true), rowEstimate: { known: false, reason: 'no connection', statements: [] }, drift: { drifting: true, baselines: [], changes: [], issues: ['x'] } },
];
function sqlImpact(cls: 'read' | 'write' | 'destructive', destructive: boolean, writes: boolean, ddl: boolean): Partial<Impact> {
  return { sql: { analyzed: true, class: cls, destructive, writes, ddl, statements: [] } };
}
const context = fc
  .record({
    role: words,
    task: words,
    tool: words,
    operation: words,
    intent: words,
    params,
    replicas: fc.constantFrom(0, 1, 3, 3.5, 30, Number.NaN, -0),
    trafficFraction: fc.constantFrom(0, 0.01, 0.2, 0.5, 1),
    known: fc.boolean(),
    dependents: fc.subarray(['a', 'x', 'ledger', 'deployer']),
    zones: fc.subarray(['prod-internal', 'a']),
    data: fc.constantFrom(...DATA_IMPACTS),
  })
  .map((r) =>
    createCelContext(
      { ...PRINCIPAL, role: r.role, task: r.task },
      { tool: r.tool, operation: r.operation, environment: 'prod', intent: r.intent, params: r.params, targets: r.dependents.map((id) => ({ kind: 'service', id })) },
      {
        ...IMPACT,
        known: r.known,
        replicas: r.replicas,
        trafficFraction: r.trafficFraction,
        dependents: r.dependents,
        endpoints: r.zones.map((zone) => ({ input: zone, host: zone, port: null, zone, zoneEnvironment: null })),
        ...r.data,
      },
    ),
  );

// ---------------------------------------------------------------------------

describe('the closure fast path against cel-js', () => {
  it('property: every checked expression of the subset gives what cel-js gives, or both throw', () => {
    const stats = { generated: 0, checked: 0, compiled: 0, evaluations: 0, deferred: 0 };
    fc.assert(
      fc.property(fc.oneof(boolExpression, anyExpression), fc.array(context, { minLength: 4, maxLength: 4 }), (expression, contexts) => {
        stats.generated++;
        if (!env.check(expression).valid) return;
        stats.checked++;
        const parsed = env.parse(expression);
        const fast = compiler.closure(parsed.ast);
        if (!fast) return;
        stats.compiled++;
        const condition = compiler.condition(parsed);
        for (const c of contexts) {
          stats.evaluations++;
          if (expectAgreement(expression, fast, parsed as unknown as CelClosure, condition, c) === 'deferred') stats.deferred++;
        }
      }),
      { numRuns: 5000 },
    );
    // The property is only worth something if most checked expressions are compiled and answered without cel-js.
    expect(stats.checked / stats.generated).toBeGreaterThan(0.3);
    expect(stats.compiled / stats.checked).toBeGreaterThan(0.9);
    expect(stats.deferred / stats.evaluations).toBeLessThan(0.15);
  });

  it('property: a parameter against a literal resolves the overload cel-js resolves at run time', () => {
    // Mostly literals that meet the parameter values of `context`.
    const operand = fc.oneof(
      { arbitrary: fc.constantFrom('1', '3', '3.0', '0.5', '-1', '"a"', '"x"', '[1, 3]', '[0, -1]', '[1.0, 3.0]', '[0.5]', '["a", "x"]', 'true', 'null'), weight: 3 },
      { arbitrary: fc.oneof(stringLiteral, numberLiteral, listLiteral, fc.constantFrom('true', 'false', 'null')), weight: 1 },
    );
    const expression = fc.oneof(
      fc.tuple(param, fc.constantFrom('==', '!=', '<', '<=', '>', '>=', 'in'), operand).map(([a, op, b]) => `${a} ${op} ${b}`),
      fc.tuple(operand, fc.constantFrom('==', '!=', '<', '<=', '>', '>=', 'in'), param).map(([a, op, b]) => `${a} ${op} ${b}`),
      fc.tuple(param, fc.constantFrom('==', '!=', '<', '>=', 'in'), param).map(([a, op, b]) => `${a} ${op} ${b}`),
      fc.tuple(param, fc.constantFrom('startsWith', 'endsWith', 'contains'), fc.oneof(stringLiteral, param)).map(([a, m, b]) => `${a}.${m}(${b})`),
      fc
        .tuple(param, fc.constantFrom('size(P) > 1', 'P.size() == 1', '!P', '-P < 0', 'P ? true : false', 'P && false', 'P || true', 'has(P)'))
        .map(([a, template]) => template.replace('P', a)),
    );
    let compared = 0;
    fc.assert(
      fc.property(expression, context, (e, c) => {
        if (!env.check(e).valid) return;
        const parsed = env.parse(e);
        const fast = compiler.closure(parsed.ast);
        // == and != with a list are left to cel-js altogether.
        if (!fast) return;
        if (expectAgreement(e, fast, parsed as unknown as CelClosure, compiler.condition(parsed), c) === 'agreed') compared++;
      }),
      { numRuns: 5000 },
    );
    expect(compared).toBeGreaterThan(3000);
  });

  it('compiles the conditions of the example and the benchmark policies, and answers them without cel-js', () => {
    const contexts = [contextWith({ force: true }), contextWith({}), contextWith({ force: 'yes' }, { replicas: 31, dependents: ['a', 'b', 'c', 'd'] }, { role: 'staging-deployer', task: '' })];
    for (const expression of TYPICAL_CONDITIONS) {
      const { slow, fast, condition } = both(expression);
      for (const c of contexts) expect(expectAgreement(expression, fast, slow, condition, c), expression).toBe('agreed');
    }
  });

  it('leaves everything outside the subset to cel-js', () => {
    for (const expression of [
      'action.intent.matches("^exp")',
      'action.targets.exists(t, t == "a")',
      'int(impact.replicas) > 3',
      'action.params.x + 1 > 2',
      'action.targets[0] == "a"',
      'action.params[action.tool] == 1',
      '[] == action.targets',
      'impact.zones == ["a"]',
      // A nested message itself, and has() on one, are cel-js's to answer.
      'has(impact.sql)',
      'has(impact.sql.writes)',
      'size({"a": 1}) == 1',
      'b"x" == b"x"',
      '1u == 1u',
      'type(action.params.x) == string',
    ]) {
      expect(env.check(expression).valid, expression).toBe(true);
      const parsed = env.parse(expression);
      expect(compiler.closure(parsed.ast), expression).toBeUndefined();
      expect(compiler.condition(parsed), expression).toBe(parsed);
    }
  });

  it('knows every field of the environment with the type the environment declares', () => {
    const fields = {
      principal: ['agent', 'instance', 'role', 'session', 'task'],
      action: ['tool', 'operation', 'environment', 'targets', 'endpoints', 'params', 'sql', 'taskId', 'intent'],
      impact: ['known', 'replicas', 'trafficFraction', 'totalTrafficFraction', 'dependents', 'reversible', 'zones', 'rows', 'rowFraction', 'sql.class', 'sql.destructive', 'sql.writes', 'sql.ddl', 'drift.drifting'],
    };
    for (const [variable, names] of Object.entries(fields)) {
      for (const name of names) expect(compiler.closure(env.parse(`${variable}.${name}`).ast), `${variable}.${name}`).toBeDefined();
    }
  });

  it('is what compilePolicy runs for a condition in the subset', () => {
    const p = compile(policyWithRules(`  - id: fast\n    when: principal.role == "deployer"\n    allow: {}\n  - id: slow\n    when: action.intent.matches("^exp")\n    allow: {}`));
    const [fast, slow] = p.rules;
    expect(fast?.condition).toBeDefined();
    expect(fast?.condition).not.toHaveProperty('ast');
    expect(slow?.condition).toHaveProperty('ast');
  });
});

describe('CEL semantics the fast path keeps', () => {
  it('int and double: ints are BigInt, mixed comparisons are exact, static int == double does not check', () => {
    expect(value(agree('impact.replicas > 3', contextWith({}, { replicas: 3.5 })))).toBe(true);
    expect(value(agree('impact.replicas >= 3', contextWith({}, { replicas: 3 })))).toBe(true);
    expect(value(agree('impact.replicas < 9007199254740993', contextWith({}, { replicas: 9007199254740992 })))).toBe(true);
    expect(value(agree('size(impact.dependents) == 2', contextWith({})))).toBe(true);
    // SQL facts: nothing written without SQL; an unknown row estimate is Infinity rows, the whole table.
    expect(value(agree('impact.rows > 0', contextWith({})))).toBe(false);
    expect(value(agree('impact.rows > 1000', contextWith({}, DATA_IMPACTS[2])))).toBe(true);
    expect(value(agree('impact.rows > 1e300 && impact.rowFraction == 1.0', contextWith({}, DATA_IMPACTS[3])))).toBe(true);
    expect(value(agree('impact.sql.destructive || impact.drift.drifting', contextWith({}, DATA_IMPACTS[3])))).toBe(true);
    expect(value(agree('impact.sql.class == "write" && impact.sql.writes && !impact.sql.ddl', contextWith({}, DATA_IMPACTS[2])))).toBe(true);
    expect(value(agree('impact.sql.class == ""', contextWith({})))).toBe(true);
    expect(value(agree('impact.dependents.size() > 1.5', contextWith({})))).toBe(true);
    expect(value(agree('-3 < -2.5', contextWith({})))).toBe(true);
    expect(env.check('impact.replicas == 3').valid).toBe(false);
    expect(env.check('3 in [1.0, 3.0]').valid).toBe(false);
  });

  it('a JS number in action.params is a double, equal to the int of the same value', () => {
    expect(env.evaluate('type(action.params.n) == double', contextWith({ n: 3 }))).toBe(true);
    expect(value(agree('action.params.n == 3', contextWith({ n: 3 })))).toBe(true);
    expect(value(agree('action.params.n == 3.0', contextWith({ n: 3 })))).toBe(true);
    expect(value(agree('action.params.n != 3', contextWith({ n: 3.5 })))).toBe(true);
    expect(value(agree('action.params.n > 2', contextWith({ n: 3 })))).toBe(true);
    expect(value(agree('action.params.n in [1, 3]', contextWith({ n: 3 })))).toBe(true);
    expect(value(agree('action.params.n == 3', contextWith({ n: 3n })))).toBe(true);
  });

  it('== across types is false with a dyn operand, and an error for < and friends', () => {
    expect(value(agree('action.params.n == "3"', contextWith({ n: 3 })))).toBe(false);
    expect(value(agree('action.params.n != "3"', contextWith({ n: 3 })))).toBe(true);
    expect(value(agree('action.params.flag == true', contextWith({ flag: 'true' })))).toBe(false);
    expect(value(agree('action.params.x == null', contextWith({ x: null })))).toBe(true);
    expect(value(agree('action.params.x in ["a"]', contextWith({ x: null })))).toBe(false);
    expect(value(agree('action.params.n > "2"', contextWith({ n: 3 })))).toBe('throws');
    expect(value(agree('action.params.x < 1', contextWith({ x: null })))).toBe('throws');
    expect(env.check('principal.role == 1').valid).toBe(false);
  });

  it('a missing key is an error, has() is false, and an error part-way through has() is an error', () => {
    expect(value(agree('action.params.x == "a"', contextWith({})))).toBe('throws');
    expect(value(agree('action.params["x"] == "a"', contextWith({ x: 'a' })))).toBe(true);
    expect(value(agree('has(action.params.x)', contextWith({})))).toBe(false);
    expect(value(agree('has(action.params.x)', contextWith({ x: null })))).toBe(true);
    expect(value(agree('has(action.params.x.y)', contextWith({})))).toBe('throws');
    expect(value(agree('has(action.params.x.y)', contextWith({ x: 'str' })))).toBe(false);
    expect(value(agree('has(action.params.x.y)', contextWith({ x: { y: 1 } })))).toBe(true);
    expect(value(agree('action.params.x.y == 1', contextWith({ x: 'str' })))).toBe('throws');
    expect(value(agree('has(principal.role)', contextWith({})))).toBe(true);
    expect(value(agree('has(principal.foo)', contextWith({})))).toBe(false);
    expect(value(agree('has(principal.foo.bar)', contextWith({})))).toBe('throws');
    expect(value(agree('"x" in action.params', contextWith({ x: 1 })))).toBe(true);
  });

  it('&& and || absorb an error when the other side decides, in either order', () => {
    const c = contextWith({});
    expect(value(agree('action.params.missing == 1 && false', c))).toBe(false);
    expect(value(agree('false && action.params.missing == 1', c))).toBe(false);
    expect(value(agree('action.params.missing == 1 || true', c))).toBe(true);
    expect(value(agree('true || action.params.missing == 1', c))).toBe(true);
    expect(value(agree('action.params.missing == 1 && true', c))).toBe('throws');
    expect(value(agree('true && action.params.missing == 1', c))).toBe('throws');
    expect(value(agree('action.params.missing == 1 || false', c))).toBe('throws');
    expect(value(agree('action.params.flag && false', contextWith({ flag: 1 })))).toBe(false);
    expect(value(agree('action.params.flag && true', contextWith({ flag: 1 })))).toBe('throws');
    expect(value(agree('action.params.flag || action.params.other', contextWith({ flag: 'no', other: true })))).toBe(true);
    expect(value(agree('(action.params.flag ? true : false) || true', contextWith({ flag: 1 })))).toBe(true);
    expect(value(agree('action.params.flag ? true : false', contextWith({ flag: 1 })))).toBe('throws');
    expect(value(agree('!action.params.flag', contextWith({ flag: 1 })))).toBe('throws');
  });

  it('map keys are own keys only: constructor, __proto__ and toString are missing unless present', () => {
    expect(value(agree('action.params.constructor == 1', contextWith({})))).toBe('throws');
    expect(value(agree('has(action.params.constructor)', contextWith({})))).toBe(false);
    expect(value(agree('has(action.params.toString)', contextWith({})))).toBe(false);
    expect(value(agree('"constructor" in action.params', contextWith({})))).toBe(false);
    expect(value(agree('has(action.params.__proto__)', contextWith({})))).toBe(false);
    const own = contextWith(JSON.parse('{"__proto__": 1, "toString": "s"}') as Record<string, unknown>);
    expect(value(agree('action.params.__proto__ == 1', own))).toBe(true);
    expect(value(agree('action.params.toString == "s"', own))).toBe(true);
    expect(value(agree('"__proto__" in action.params', own))).toBe(true);
    expect(value(agree('has(action.params.x.constructor)', contextWith({ x: {} })))).toBe(false);
  });

  it('a parameter map with its own "constructor" key is rejected by cel-js, and so by the closure', () => {
    const c = contextWith(JSON.parse('{"constructor": "x", "a": 1}') as Record<string, unknown>);
    expect(value(agree('has(action.params.a)', c))).toBe('throws');
    expect(value(agree('action.params.a == 1', c))).toBe('throws');
    expect(run(both('has(action.params.a)').fast, c)).toEqual({ threw: true, error: CEL_ERROR });
    // A nested map with a null "constructor" passes cel-js's check of map values, and nothing else.
    const nested = contextWith(JSON.parse('{"a": {"constructor": null}}') as Record<string, unknown>);
    expect(value(agree('has(action.params.a)', nested))).toBe(true);
    expect(value(agree('has(action.params.a.b)', nested))).toBe('throws');
    expect(value(agree('action.params.a == 1', nested))).toBe('throws');
  });

  it('size(m) and `in` type action.params from its first value, m.size() does not', () => {
    const c = contextWith({ a: undefined, b: 1 });
    expect(value(agree('size(action.params) == 2', c))).toBe('throws');
    expect(value(agree('"b" in action.params', c))).toBe('throws');
    expect(value(agree('action.params.size() == 2', c))).toBe(true);
    expect(value(agree('has(action.params.b)', c))).toBe(true);
  });

  it('size() counts code points, list elements and map keys', () => {
    expect(value(agree('size(action.params.s) == 1', contextWith({ s: '😀' })))).toBe(true);
    expect(value(agree('action.params.s.size() == 2', contextWith({ s: 'ab' })))).toBe(true);
    expect(value(agree('size(action.params) == 2', contextWith({ a: 1, b: [] })))).toBe(true);
    expect(value(agree('size(action.params.l) == 3', contextWith({ l: [1, 'a', null] })))).toBe(true);
    expect(value(agree('size(action.params.n) == 1', contextWith({ n: 1 })))).toBe('throws');
    expect(value(agree('size("😀a") == 2', contextWith({})))).toBe(true);
  });

  it('string methods need strings at run time', () => {
    expect(value(agree('action.intent.startsWith("experiment")', contextWith({})))).toBe(true);
    expect(value(agree('action.params.p.endsWith("/x")', contextWith({ p: '/a/x' })))).toBe(true);
    expect(value(agree('principal.role.contains(action.params.p)', contextWith({ p: 'ploy' })))).toBe(true);
    expect(value(agree('action.params.p.startsWith("x")', contextWith({ p: 1 })))).toBe('throws');
    expect(value(agree('"a" in action.params.l', contextWith({ l: 'a' })))).toBe('throws');
    expect(value(agree('"a" in action.params.l', contextWith({ l: ['b', 'a'] })))).toBe(true);
  });

  it('values no JSON request carries are left to cel-js', () => {
    for (const [expression, params] of [
      ['action.params.m == 1', { m: new Map([['a', 1]]) }],
      ['size(action.params.l) == 1', { l: [new Date(0)] }],
      ['action.params.a == action.params.b', { a: ['x'], b: ['x'] }],
    ] as const) {
      const { slow, fast, condition } = both(expression);
      const c = contextWith(params);
      expect(run(fast, c)).toEqual({ threw: true, error: CEL_DEFER });
      expect(run(condition, c)).toEqual(run(slow, c));
    }
  });
});

/** The conditions of examples/governor.yaml and bench/lib/synthetic-policy.ts, and a few more like them. */
const TYPICAL_CONDITIONS = [
  'principal.role == "staging-deployer" || principal.role == "deployer"',
  'principal.role == "deployer"',
  'principal.role == "dba" || principal.role == "deployer"',
  '!impact.known',
  'impact.totalTrafficFraction > 0.02',
  'principal.role in ["deployer", "staging-deployer"]',
  'principal.role == "dba" && action.operation in ["migrate", "purge", "flush"]',
  'principal.role != "staging-deployer" && principal.task != ""',
  'principal.role == "staging-deployer" && action.environment != "canary"',
  'has(action.params.force) && action.params.force == true',
  'impact.dependents.size() > 3',
  'impact.replicas > 30.0',
  'action.intent.startsWith("experiment")',
  'principal.role == "staging-deployer" && impact.trafficFraction > 0.2',
  'action.operation == "deploy" && impact.replicas > 4.0',
  'principal.role != "deployer"',
  'action.operation != "rollback"',
  '"ledger" in impact.dependents',
  'impact.replicas > 3 && size(impact.zones) <= 1',
  'has(action.params.count) ? action.params.count > 10 : impact.replicas > 10.0',
];
