// What user SQL may be, judged on the engine's own parse of it. The engine formats the statement
// (formatQuery refuses more than one) and prints its syntax tree (EXPLAIN AST); this module reads the
// tree and refuses whatever reaches past reading the store: writes and session changes, SETTINGS
// anywhere (a subquery's SETTINGS can lower `readonly`), INTO OUTFILE (written even in readonly
// mode), table functions that read files, URLs, other servers or processes, the functions that do
// the same, and tables of other databases. The query that runs is the formatted text that was judged.
import { LlmeterError } from '../errors.ts';

/** ClickHouse's codes for the refusals, so that the ClickHouse HTTP interface answers as a server would. */
export const REFUSAL_CODES = {
  /** SYNTAX_ERROR: an empty or too long statement (the engine's own parse errors keep their code). */
  syntax: 62,
  /** UNKNOWN_FORMAT */
  format: 73,
  /** READONLY: a statement or clause that writes or changes settings. */
  readonly: 164,
  /** ACCESS_DENIED: what reaches files, URLs, other servers, processes or other databases. */
  access: 497,
} as const;

/** A statement the read-only service will not run; the message says why, `clickhouseCode` in ClickHouse's terms. */
export class QueryRefused extends LlmeterError {
  readonly clickhouseCode: number;
  constructor(message: string, clickhouseCode: number = REFUSAL_CODES.readonly, options?: ErrorOptions) {
    super(message, 'refused', options);
    this.clickhouseCode = clickhouseCode;
  }
}

/** Statement kinds (the tree's root) that only read. */
const READING_ROOTS = new Set(['SelectWithUnionQuery', 'ShowTables', 'ShowColumns', 'ShowCreateTableQuery', 'DescribeQuery', 'ExistsTableQuery', 'Explain']);

/**
 * Table functions that make rows out of nothing or out of the query itself. Every other table
 * function (the engine lists them in system.table_functions) is refused, so one a newer engine adds is
 * refused until it is judged harmless here.
 */
export const HARMLESS_TABLE_FUNCTIONS: ReadonlySet<string> = new Set([
  'numbers',
  'numbers_mt',
  'zeros',
  'zeros_mt',
  'generateseries',
  'generate_series',
  'primes',
  'values',
  'generaterandom',
  'view',
  'format',
  'null',
]);

/** Ordinary functions that read host files, load models from disk, read other tables' state or stall a worker. */
const REFUSED_FUNCTIONS = new Set([
  'file',
  'catboostevaluate',
  'naivebayesclassifier',
  'naivebayesclassifierwithprob',
  'naivebayesclassifierwithallprobs',
  'joinget',
  'joingetornull',
  'addresstoline',
  'addresstolinewithinlines',
  'addresstosymbol',
  'demangle',
  'sleep',
  'sleepeachrow',
]);

export interface GuardPolicy {
  /** Databases whose tables may be read; unqualified names resolve to the first. */
  databases: readonly string[];
  /** Every table function the engine knows, lower-cased (those not harmless are refused). */
  tableFunctions: ReadonlySet<string>;
}

export interface JudgedStatement {
  /** The statement to run: the engine's formatting, without a FORMAT clause. */
  sql: string;
  /** The FORMAT clause's format, when the statement had one. */
  format?: string;
}

const SETTINGS_MESSAGE = 'SETTINGS clauses are not allowed: the service sets the limits every query runs with';

/**
 * Refuses a statement with a SETTINGS clause before the engine is asked for its tree: printing the
 * tree applies the clause's settings, and a read-only session refuses that with a message about the
 * setting rather than the clause. The formatter starts each clause on a line of its own.
 */
export function refuseSettingsClause(formatted: string): void {
  if (/^\s*SETTINGS \w+ = /m.test(formatted)) throw new QueryRefused(SETTINGS_MESSAGE, REFUSAL_CODES.readonly);
}

interface Node {
  depth: number;
  kind: string;
  /** The word after the kind: a function's or identifier's name. */
  name: string;
}

function parseTree(ast: string): Node[] {
  const nodes: Node[] = [];
  for (const line of ast.split('\n')) {
    if (line.trim() === '') continue;
    const depth = line.length - line.trimStart().length;
    const [kind = '', name = ''] = line.trim().split(' ', 3);
    nodes.push({ depth, kind, name });
  }
  return nodes;
}

/**
 * Judges one statement from its formatted text and the engine's `EXPLAIN AST` of that text. Throws
 * QueryRefused naming the first thing that is not allowed.
 */
export function judgeStatement(formatted: string, ast: string, policy: GuardPolicy): JudgedStatement {
  const nodes = parseTree(ast);
  const root = nodes[0];
  if (!root) throw new QueryRefused('empty statement', REFUSAL_CODES.syntax);
  if (!READING_ROOTS.has(root.kind)) {
    throw new QueryRefused(
      `only one reading statement is allowed (SELECT, WITH, SHOW TABLES/COLUMNS/CREATE TABLE, DESCRIBE, EXISTS, EXPLAIN); this is ${describeKind(root.kind)}`,
    );
  }
  if (root.kind === 'Explain') {
    const inner = nodes[1];
    if (!inner || inner.kind !== 'SelectWithUnionQuery') throw new QueryRefused('EXPLAIN is allowed only of a SELECT');
  }
  const allowed = new Set(policy.databases.map((d) => d.toLowerCase()));
  for (let i = 0; i < nodes.length; i++) {
    const n = nodes[i]!;
    if (n.kind === 'Set') throw new QueryRefused(SETTINGS_MESSAGE);
    // A literal directly under the statement is its INTO OUTFILE target.
    if (n.depth === root.depth + 1 && n.kind === 'Literal') throw new QueryRefused('INTO OUTFILE is not allowed', REFUSAL_CODES.access);
    if (n.kind === 'Function') {
      const fn = n.name.toLowerCase();
      const parent = parentOf(nodes, i);
      const asTable = parent?.kind === 'TableExpression';
      if ((asTable || policy.tableFunctions.has(fn)) && !HARMLESS_TABLE_FUNCTIONS.has(fn)) {
        throw new QueryRefused(
          `table function ${n.name}() is not allowed: only ${[...HARMLESS_TABLE_FUNCTIONS].sort().join(', ')} may be used`,
          REFUSAL_CODES.access,
        );
      }
      if (REFUSED_FUNCTIONS.has(fn)) throw new QueryRefused(`function ${n.name}() is not allowed`, REFUSAL_CODES.access);
    }
    if (n.kind === 'TableIdentifier' && n.name.includes('.')) {
      const db = n.name.slice(0, n.name.indexOf('.')).toLowerCase();
      if (!allowed.has(db))
        throw new QueryRefused(
          `database ${n.name.slice(0, n.name.indexOf('.'))} is not readable here; tables of ${policy.databases.join(', ')} are`,
          REFUSAL_CODES.access,
        );
    }
    if ((n.kind === 'ShowCreateTableQuery' || n.kind === 'ExistsTableQuery') && n.name && !allowed.has(n.name.toLowerCase())) {
      throw new QueryRefused(`database ${n.name} is not readable here; tables of ${policy.databases.join(', ')} are`, REFUSAL_CODES.access);
    }
  }
  // The formatter writes the FORMAT clause on a line of its own, last (no SETTINGS may follow it),
  // and escapes newlines inside string literals, so this line cannot come from a literal.
  const lines = formatted.split('\n');
  const m = /^FORMAT (\w+)$/.exec(lines[lines.length - 1] ?? '');
  if (m) return { sql: lines.slice(0, -1).join('\n'), format: m[1] };
  return { sql: formatted };
}

function parentOf(nodes: readonly Node[], i: number): Node | undefined {
  const d = nodes[i]!.depth;
  for (let j = i - 1; j >= 0; j--) if (nodes[j]!.depth < d) return nodes[j];
  return undefined;
}

function describeKind(kind: string): string {
  const words = kind
    .replace(/Query$/, '')
    .replace(/([a-z])([A-Z])/g, '$1 $2')
    .toUpperCase();
  return `${/^[AEIOU]/.test(words) ? 'an' : 'a'} ${words} statement`;
}
