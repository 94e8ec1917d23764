import { htmlDecode } from '../decode.js';
import type { Detector, Finding, Input, Paranoia } from '../types.js';
import { keywordClass, keywords, T, type Token, tokenize } from './sqli-lexer.js';

/**
 * SQL injection. A value is read as SQL in the contexts an application may paste it into: as is
 * (a number or an identifier, `WHERE id = <value>`), and after the first single or double quote
 * (a string literal the value closes, `WHERE name = '<value>'`). Each reading is tokenized
 * (sqli-lexer.ts) and the tokens are matched against attack shapes built from SQL grammar: a
 * quote that breaks out into SQL, a boolean condition appended, a UNION, a stacked statement,
 * a time delay, error-based and out-of-band functions, catalog probing, comment truncation.
 *
 * Prose is the main risk: "O'Brien", "students' and teachers' rooms", "select one from the list",
 * "order by date". The shapes therefore require SQL that parses (an operand on each side of a
 * comparison, a statement keyword followed by what that statement needs), not keywords alone.
 */

const FAMILY = 'sqli' as const;

/** Functions that make the database wait: the core of time-based blind injection. */
const DELAY_FUNCTIONS = new Set(['sleep', 'pg_sleep', 'benchmark', 'randomblob', 'sys_sleep']);

/** Functions whose only common use in a request is error-based extraction or reaching out of the database. */
const DANGER_FUNCTIONS = new Set([
  'extractvalue',
  'updatexml',
  'xmltype',
  'load_file',
  'name_const',
  'get_host_address',
  'get_host_name',
  'xp_cmdshell',
  'xp_dirtree',
  'xp_fileexist',
  'xp_regread',
  'sp_oacreate',
  'sp_executesql',
  'openrowset',
  'opendatasource',
  'lo_import',
  'lo_export',
  'lo_get',
  'pg_read_file',
  'pg_read_binary_file',
  'pg_ls_dir',
  'load_extension',
  'sqlite_compileoption_used',
  'sqlite_compileoption_get',
  'gtid_subset',
  'dbms_pipe',
  'receive_message',
  'query_to_xml',
  'database_to_xml',
  'dblink',
  'dblink_connect',
  'utl_inaddr',
  'pg_sleep',
  'unistr',
]);

/** Database catalogs and system objects: nothing else names them. */
const CATALOG_WORDS = new Set([
  'information_schema',
  'pg_catalog',
  'pg_shadow',
  'pg_user',
  'pg_database',
  'pg_tables',
  'sysobjects',
  'syscolumns',
  'sysdatabases',
  'sysusers',
  'sqlite_master',
  'sqlite_schema',
  'sqlite_temp_master',
  'msysaccessobjects',
  'msysobjects',
  'msysqueries',
  'all_tab_columns',
  'all_tables',
  'user_tab_columns',
  'dba_users',
  'xp_cmdshell',
  'xp_dirtree',
  'utl_http',
  'utl_inaddr',
  'utl_file',
  'dbms_pipe',
  'dbms_lock',
  'dbms_ldap',
  'dbms_xmlgen',
  'dbms_java',
  'sys_context',
  'msdb',
  'tempdb',
  'msdasql',
  'sp_password',
  'sp_executesql',
  'sp_oacreate',
  'sp_makewebtask',
  'xp_regread',
  'xp_fileexist',
  'xp_servicecontrol',
  'openrowset',
  'opendatasource',
]);

/** System variables (@@version) worth a finding of their own. */
const SYSTEM_VARIABLES = new Set([
  '@@version',
  '@@datadir',
  '@@hostname',
  '@@servername',
  '@@basedir',
  '@@spid',
  '@@language',
  '@@tmpdir',
  '@@version_compile_os',
  '@@global',
  '@@session',
]);

/**
 * Functions that belong to SQL (a call to one of them, alone or after a quote, is a probe): names an
 * API value or a snippet of another language rarely starts with.
 */
const SQL_FUNCTIONS = new Set([
  ...DELAY_FUNCTIONS,
  ...DANGER_FUNCTIONS,
  'concat',
  'concat_ws',
  'group_concat',
  'string_agg',
  'listagg',
  'char',
  'chr',
  'nchar',
  'ascii',
  'unicode',
  'ord',
  'hex',
  'unhex',
  'substr',
  'substring',
  'substring_index',
  'mid',
  'instr',
  'locate',
  'strcmp',
  'find_in_set',
  'make_set',
  'elt',
  'field',
  'ifnull',
  'isnull',
  'nullif',
  'nvl',
  'nvl2',
  'iif',
  'if',
  'coalesce',
  'cast',
  'convert',
  'md5',
  'sha1',
  'sha2',
  'crc32',
  'compress',
  'uncompress',
  'aes_encrypt',
  'aes_decrypt',
  'decode',
  'encode',
  'version',
  'database',
  'schema',
  'user',
  'current_user',
  'session_user',
  'system_user',
  'db_name',
  'user_name',
  'suser_name',
  'suser_sname',
  'host_name',
  'schema_name',
  'object_name',
  'table_name',
  'column_name',
  'sysdate',
  'now',
  'rand',
  'floor',
  'length',
  'len',
  'char_length',
  'bit_length',
  'trim',
  'ltrim',
  'rtrim',
  'reverse',
  'lpad',
  'rpad',
  'insert',
  'replace',
  'json_extract',
  'json_keys',
  'json_valid',
  'json_object',
  'json_build_object',
  'jsonb_pretty',
  'to_char',
  'to_number',
  'starts_with',
  'regexp_substr',
  'regexp_like',
  'pow',
  'power',
  'sin',
  'cos',
  'exp',
  'abs',
  'count',
  'div',
  'mod',
  'bin',
  'oct',
  'conv',
  'soundex',
  'likelihood',
  'unlikely',
  'likely',
  'glob',
  'typeof',
  'randomblob',
  'zeroblob',
  'sqlite_version',
  'current_setting',
  'current_database',
  'pg_backend_pid',
  'format',
  'date',
  'default',
  'in',
  'exists',
  'having',
  'values',
  'analyse',
  'execute',
  'exec',
]);

/** Common SQL function names that are also ordinary words: only their bare opening ("max(") is a probe. */
const MORE_FUNCTIONS = new Set([
  'max',
  'min',
  'avg',
  'sum',
  'upper',
  'lower',
  'ucase',
  'lcase',
  'left',
  'right',
  'round',
  'ceil',
  'ceiling',
  'sqrt',
  'sign',
  'tan',
  'atan',
  'log',
  'ln',
  'pi',
  'time',
  'minute',
  'hour',
  'second',
  'day',
  'month',
  'year',
  'quarter',
  'week',
  'curdate',
  'curtime',
  'last_insert_id',
  'row_count',
  'found_rows',
  'connection_id',
  'charset',
  'collation',
  'local',
  'position',
  'overlay',
  'repeat',
  'space',
  'quote',
  'octet_length',
  'radians',
  'degrees',
  'truncate',
]);

interface Ctx {
  readonly tokens: readonly Token[];
  /** Where each parenthesis group ends (lazily computed by skipGroup). */
  ends?: Int32Array;
  /** The reading starts right after a quote that closed a string (a breakout). */
  readonly breakout: boolean;
  /** The value, to look at comment bodies. */
  readonly value: string;
  /** The value is a parameter name (a form field or cookie name), where operators never belong. */
  readonly name?: boolean;
}

type Emit = (rule: string, pl: Paranoia, score: number) => void;

/** Operand tokens; an open string counts: the application's own closing quote ends it. */
const OPERANDS = new Set<string>([T.NUMBER, T.STRING, T.OPEN_STRING, T.WORD, T.LITERAL, T.VARIABLE]);

function tok(c: Ctx, i: number): Token | undefined {
  return c.tokens[i];
}

function cls(c: Ctx, i: number): string {
  return c.tokens[i]?.cls ?? '';
}

/** A call token whose word is a keyword ("IN (", "EXISTS(", "VALUES(") behaves like the keyword. */
function keywordOf(t: Token | undefined): string | undefined {
  if (t === undefined) return undefined;
  if (t.cls === T.CALL) return keywordClass(t.text) === undefined ? undefined : t.text;
  if (t.cls === T.KEYWORD || t.cls === T.STATEMENT || t.cls === T.UNION || t.cls === T.LOGIC) return t.text;
  if (t.cls === T.COMPARE || t.cls === T.ARITH || t.cls === T.LITERAL) return t.text;
  return undefined;
}

/** For each "(" token, the index after its ")" (or tokens.length): one linear pass, computed once per reading. */
function groupEnds(tokens: readonly Token[]): Int32Array {
  const ends = new Int32Array(tokens.length).fill(tokens.length);
  const stack: number[] = [];
  for (let k = 0; k < tokens.length; k++) {
    const x = (tokens[k] as Token).cls;
    if (x === T.OPEN) stack.push(k);
    else if (x === T.CLOSE && stack.length > 0) ends[stack.pop() as number] = k + 1;
  }
  return ends;
}

/** Index after the parenthesis group that starts at i (an OPEN token), or tokens.length. */
function skipGroup(c: Ctx, i: number): number {
  if (cls(c, i) !== T.OPEN) return c.tokens.length;
  c.ends ??= groupEnds(c.tokens);
  return c.ends[i] as number;
}

/** A unary operand: a literal, a (dotted) name, a variable, a call with its arguments, a parenthesized group. */
function operand(c: Ctx, i: number): number {
  let k = i;
  // Unary prefixes: - + ~ ! NOT.
  while (k < c.tokens.length) {
    const t = c.tokens[k] as Token;
    if (t.text === '-' || t.text === '+' || t.text === '~' || t.text === '!') k++;
    else if (t.cls === T.LOGIC && t.text === 'not') k++;
    else break;
  }
  const t = tok(c, k);
  if (t === undefined) return -1;
  if (t.cls === T.CALL) {
    if (cls(c, k + 1) !== T.OPEN) return -1;
    return skipGroup(c, k + 1);
  }
  if (t.cls === T.OPEN) return skipGroup(c, k);
  if (t.cls === T.STATEMENT && t.text === 'select') return -1;
  if (!OPERANDS.has(t.cls)) {
    // Keywords used as values in injected conditions: "or user=", "and database like".
    if (t.cls === T.KEYWORD && (t.text === 'user' || t.text === 'database' || t.text === 'schema'))
      return k + 1;
    return -1;
  }
  k++;
  // PostgreSQL array constructor: array['a','b'] (the lexer reads "[…]" as a bracketed name).
  if (t.text === 'array' && t.cls === T.WORD && tok(c, k)?.text === '[') k++;
  // Dotted names and casts: a.b, t.col, x::int.
  while (cls(c, k) === T.DOT && OPERANDS.has(cls(c, k + 1))) k += 2;
  while (tok(c, k)?.text === '::' && k + 1 < c.tokens.length) k += 2;
  return k;
}

interface Expr {
  /** Index after the expression, or -1 when there is no operand. */
  readonly end: number;
  /** It holds a comparison (or a postfix test: IS NULL, NOTNULL). */
  readonly compares: boolean;
  /** Number of operands. */
  readonly operands: number;
}

/** operand ((COMPARE | ARITH | NOT? LIKE…) operand)*, with postfix IS [NOT] NULL / NOTNULL / ISNULL. */
function expression(c: Ctx, i: number): Expr {
  let end = operand(c, i);
  if (end === -1) return { end: -1, compares: false, operands: 0 };
  let compares = false;
  let operands = 1;
  for (let guard = 0; guard < 64; guard++) {
    const t = tok(c, end);
    if (t === undefined) break;
    if (t.cls === T.COMPARE && (t.text === 'notnull' || t.text === 'isnull')) {
      compares = true;
      end++;
      continue;
    }
    let k = end;
    if (t.cls === T.LOGIC && t.text === 'not') k++; // NOT LIKE, NOT IN, NOT BETWEEN
    const op = tok(c, k);
    if (op === undefined) break;
    const isCompare = op.cls === T.COMPARE || (op.cls === T.CALL && (op.text === 'in' || op.text === 'like'));
    const isArith = op.cls === T.ARITH || op.text === '||';
    if (!isCompare && !isArith) break;
    k++;
    // IS [NOT] NULL / IS [NOT] TRUE; = ANY (…) / = ALL (…); SOUNDS LIKE.
    if (op.text === 'is' && tok(c, k)?.text === 'not') k++;
    if (op.text === 'sounds' && tok(c, k)?.text === 'like') k++;
    if (op.text === 'similar' && tok(c, k)?.text === 'to') k++;
    const q = tok(c, k)?.text;
    if (q === 'all' || q === 'any' || q === 'some') k++;
    if (isCompare && op.cls === T.CALL) {
      end = skipGroup(c, k);
      compares = true;
      operands++;
      continue;
    }
    const next = operand(c, k);
    if (next === -1) {
      // A trailing comparison ("' or 1=" / "xor 5>") still compares: the rest was cut off.
      if (isCompare && k >= c.tokens.length) {
        compares = true;
        end = k;
      }
      break;
    }
    if (isCompare) compares = true;
    operands++;
    end = next;
    if (op.text === 'between' && tok(c, end)?.text === 'and') {
      const hi = operand(c, end + 1);
      if (hi !== -1) end = hi;
    }
  }
  return { end, compares, operands };
}

const CLAUSE_AFTER_CONDITION = new Set([
  'order',
  'group',
  'limit',
  'having',
  'into',
  'procedure',
  'from',
  'then',
  'end',
  'offset',
]);

/** Tokens that may follow a complete injected condition: the end, a comment, ";", ")", another condition, a clause. */
function cleanEnd(c: Ctx, i: number): boolean {
  const t = tok(c, i);
  if (t === undefined) return true;
  if (t.cls === T.COMMENT || t.cls === T.SEMI || t.cls === T.CLOSE || t.cls === T.LOGIC) return true;
  if (t.cls === T.OPEN_STRING || t.cls === T.STRING) return true; // "' or '1'='1" closes on the app's quote
  if (t.cls === T.UNION) return true;
  return t.cls === T.KEYWORD && CLAUSE_AFTER_CONDITION.has(t.text);
}

function isSelectLike(t: Token | undefined): boolean {
  return t !== undefined && (t.text === 'select' || t.text === 'values') && t.cls !== T.WORD;
}

/** UNION [ALL | DISTINCT] [(] SELECT … */
function unionSelect(c: Ctx, emit: Emit): void {
  for (let i = 0; i < c.tokens.length; i++) {
    const t = c.tokens[i] as Token;
    if (t.cls !== T.UNION && !(t.cls === T.CALL && keywordClass(t.text) === T.UNION)) continue;
    let k = i + 1;
    for (let n = 0; n < 4 && k < c.tokens.length; n++) {
      const x = c.tokens[k] as Token;
      if (x.text === 'all' || x.text === 'distinct' || x.cls === T.OPEN || x.cls === T.COMMENT) k++;
      else break;
    }
    if (isSelectLike(tok(c, k))) {
      emit('sqli-union', 1, 5);
      return;
    }
    // "2 union all", "5) union distinct": a value that ends on UNION ALL after a number or ")", the SELECT to follow.
    const before = cls(c, i - 1);
    if (
      k === c.tokens.length &&
      k > i + 1 &&
      (c.tokens[i + 1] as Token).cls === T.KEYWORD &&
      (before === T.NUMBER || before === T.CLOSE)
    ) {
      emit('sqli-union', 2, 5);
      return;
    }
  }
}

/** sleep(5), benchmark(1e7, …), pg_sleep(5), WAITFOR DELAY '0:0:5'. */
function delay(c: Ctx, emit: Emit): void {
  for (let i = 0; i < c.tokens.length; i++) {
    const t = c.tokens[i] as Token;
    if (t.cls === T.CALL && DELAY_FUNCTIONS.has(t.text)) {
      // A method call in code (time.sleep(5)) is not SQL unless the value broke out of a string.
      if (i > 0 && cls(c, i - 1) === T.DOT && !(c.breakout && i <= 2)) continue;
      const arg = tok(c, i + 2);
      if (arg === undefined) {
        emit('sqli-delay', 1, 5);
        return;
      }
      const a = arg.cls;
      if (
        a === T.NUMBER ||
        a === T.STRING ||
        a === T.OPEN ||
        a === T.CALL ||
        a === T.VARIABLE ||
        a === T.ARITH
      ) {
        // "sleep (8 hours)" in prose: the argument must be an expression that closes.
        const e = expression(c, i + 2);
        if (
          e.end !== -1 &&
          (e.end >= c.tokens.length || cls(c, e.end) === T.CLOSE || cls(c, e.end) === T.COMMA)
        ) {
          emit('sqli-delay', 1, 5);
          return;
        }
        // "x' sleep(10.to_i) '": right after a quote and a blank, a glued call on a number that closes.
        if (
          i === 0 &&
          c.breakout &&
          a === T.NUMBER &&
          t.end === (tok(c, 1) as Token).start &&
          isGap(c.value.charCodeAt(t.start - 1)) &&
          cls(c, skipGroup(c, 1) - 1) === T.CLOSE
        ) {
          emit('sqli-delay', 2, 5);
          return;
        }
      }
    }
    if (t.cls === T.STATEMENT && t.text === 'waitfor') {
      const n = tok(c, i + 1);
      if (n !== undefined && (n.text === 'delay' || n.text === 'time')) {
        const s = cls(c, i + 2);
        if (s === '' || s === T.STRING || s === T.OPEN_STRING || s === T.VARIABLE) {
          emit('sqli-delay', 1, 5);
          return;
        }
      }
    }
  }
}

/** Error-based and out-of-band functions, catalog tables, system variables, INTO OUTFILE. */
function probes(c: Ctx, emit: Emit): void {
  for (let i = 0; i < c.tokens.length; i++) {
    const t = c.tokens[i] as Token;
    if (t.cls === T.CALL && DANGER_FUNCTIONS.has(t.text)) emit('sqli-function', 1, 5);
    else if ((t.cls === T.WORD || t.cls === T.CALL) && CATALOG_WORDS.has(t.text)) emit('sqli-catalog', 1, 5);
    else if ((t.text === '`' || t.cls === T.STRING) && catalogQuoted(c.value, t)) emit('sqli-catalog', 1, 5);
    else if (t.cls === T.VARIABLE && SYSTEM_VARIABLES.has(t.text)) emit('sqli-variable', 1, 5);
    else if (t.cls === T.VARIABLE && t.text.startsWith('@@') && t.text.length > 3)
      emit('sqli-variable', 2, 3);
    else if (t.text === 'into' && (tok(c, i + 1)?.text === 'outfile' || tok(c, i + 1)?.text === 'dumpfile'))
      emit('sqli-file', 1, 5);
    else if (t.text === 'load' && tok(c, i + 1)?.text === 'data' && tok(c, i + 2)?.text === 'infile')
      emit('sqli-file', 1, 5);
    else if (t.text === 'procedure' && tok(c, i + 1)?.text === 'analyse') emit('sqli-function', 1, 5);
    else if (t.cls === T.WORD && DELAY_FUNCTIONS.has(t.text) && tok(c, i - 1)?.text === 'select')
      emit('sqli-delay', 1, 5);
  }
}

/** Is the quoted token a catalog name ('msdasql', `information_schema`)? Hashed first: no copy unless it may be one. */
function catalogQuoted(value: string, t: Token): boolean {
  if (t.end - t.start < 6 || t.end - t.start > 26) return false;
  let h = 0;
  for (let k = t.start + 1; k < t.end - 1; k++) h = (Math.imul(h, 31) + (value.charCodeAt(k) | 32)) | 0;
  if (!CATALOG_HASHES.has(h)) return false;
  return CATALOG_WORDS.has(value.slice(t.start + 1, t.end - 1).toLowerCase());
}

const DDL_OBJECTS = new Set([
  'table',
  'database',
  'schema',
  'view',
  'index',
  'trigger',
  'procedure',
  'function',
  'user',
  'login',
  'temporary',
  'or',
  'unique',
]);

/** Does the statement keyword at i start something that parses as that statement? */
function statementAt(c: Ctx, i: number): boolean {
  const t = tok(c, i);
  if (t === undefined) return false;
  const n1 = tok(c, i + 1);
  const n2 = tok(c, i + 2);
  const kw = t.text;
  switch (kw) {
    case 'select':
      return selectList(c, i + 1);
    case 'insert':
      return n1?.text === 'into' || (n1?.cls === T.WORD && (n2?.cls === T.OPEN || n2?.text === 'values'));
    case 'update':
      return (n1?.cls === T.WORD || n1?.cls === T.KEYWORD) && n2?.text === 'set';
    case 'delete':
      return n1?.text === 'from';
    case 'drop':
    case 'create':
    case 'alter':
    case 'truncate':
    case 'rename':
      return n1 !== undefined && DDL_OBJECTS.has(n1.text);
    case 'exec':
    case 'execute':
      return (
        n1 !== undefined &&
        (n1.cls === T.VARIABLE ||
          (n1.cls === T.OPEN && (n2?.cls === T.STRING || n2?.cls === T.VARIABLE)) ||
          n1.cls === T.STRING ||
          n1.text === 'immediate' ||
          n1.text.startsWith('xp_') ||
          n1.text.startsWith('sp_') ||
          n1.text === 'master' ||
          (n1.cls === T.CALL && n1.text.startsWith('sp_')))
      );
    case 'declare':
      return n1?.cls === T.VARIABLE || (n1?.cls === T.WORD && n2?.text === 'cursor');
    case 'shutdown':
      return n1 === undefined || n1.cls === T.COMMENT || n1.cls === T.SEMI || n1.text === 'with';
    case 'waitfor':
      return n1?.text === 'delay' || n1?.text === 'time';
    case 'set':
      return n1?.cls === T.VARIABLE;
    case 'merge':
      return n1?.text === 'into';
    case 'call':
      // CALL proc(…): the name glued to its parenthesis ("call me (maybe)" is prose).
      return n1?.cls === T.CALL && n2 !== undefined && !n2.spaced;
    case 'grant':
    case 'revoke':
      for (let k = i + 1; k < i + 8 && k < c.tokens.length; k++) if (c.tokens[k]?.text === 'on') return true;
      return false;
    default:
      return false;
  }
}

/** MySQL's REPLACE [INTO] t (cols) VALUES (…) after ";" (REPLACE is also a string function, so it is not a keyword). */
function replaceAt(c: Ctx, i: number): boolean {
  let k = i + 1;
  if (tok(c, k)?.text === 'into') k++;
  const table = tok(c, k);
  if (table === undefined || (table.cls !== T.WORD && table.cls !== T.CALL)) return false;
  k++;
  if (cls(c, k) === T.OPEN) k = skipGroup(c, k);
  const v = tok(c, k);
  return v !== undefined && (v.text === 'values' || isSelectLike(v));
}

/** SELECT <list> followed by FROM, the end, or a clause: the list is *, literals, names, calls. */
function selectList(c: Ctx, i: number): boolean {
  let k = i;
  const first = tok(c, k);
  if (first === undefined) return false;
  if (first.text === 'distinct' || first.text === 'all' || first.text === 'top') k++;
  if (first.text === 'top' && cls(c, k) === T.NUMBER) k++;
  let items = 0;
  for (let guard = 0; guard < 256 && k < c.tokens.length; guard++) {
    const t = c.tokens[k] as Token;
    if (t.cls === T.ARITH && t.text === '*') k++;
    else if (t.cls === T.KEYWORD && t.text === 'case') {
      k = caseEnd(c, k);
      if (k === -1) return false;
    } else {
      const e = expression(c, k);
      if (e.end === -1) return false;
      k = e.end;
    }
    items++;
    // Optional alias: AS name, or a name right after the expression.
    if (tok(c, k)?.text === 'as') k += 2;
    if (cls(c, k) !== T.COMMA) break;
    k++;
  }
  if (items === 0) return false;
  const after = tok(c, k);
  if (after === undefined || after.cls === T.SEMI || after.cls === T.COMMENT || after.cls === T.CLOSE)
    return items > 1 || sqlOnly(c, i, k);
  if (after.text === 'from') return fromClause(c, k + 1);
  if (after.cls === T.UNION || after.text === 'into' || after.text === 'where' || after.text === 'limit')
    return true;
  if ((after.text === 'group' || after.text === 'order') && tok(c, k + 1)?.text === 'by') return true;
  return false;
}

/** The select list starts with something only SQL selects: "select 1", "select @@version", "select *", "select concat(". */
function sqlOnly(c: Ctx, from: number, _to: number): boolean {
  const t = tok(c, from);
  if (t === undefined) return false;
  const x = t.cls;
  if (x === T.VARIABLE || x === T.NUMBER || x === T.STRING || x === T.LITERAL) return true;
  if (x === T.ARITH && t.text === '*') return true;
  if (x === T.OPEN) {
    const inner = tok(c, from + 1);
    return inner !== undefined && (isSelectLike(inner) || inner.text === 'case' || sqlOnly(c, from + 1, _to));
  }
  return x === T.CALL && (SQL_FUNCTIONS.has(t.text) || MORE_FUNCTIONS.has(t.text));
}

function caseEnd(c: Ctx, i: number): number {
  for (let k = i + 1; k < c.tokens.length && k < i + 64; k++) if (c.tokens[k]?.text === 'end') return k + 1;
  return c.tokens.length;
}

const AFTER_TABLE = new Set([
  'where',
  'limit',
  'order',
  'group',
  'having',
  'join',
  'inner',
  'left',
  'right',
  'outer',
  'cross',
  'natural',
  'union',
  'into',
  'offset',
  'procedure',
]);

/** FROM <table or (subquery)> then the end or a clause: not "from the list below". */
function fromClause(c: Ctx, i: number): boolean {
  const t = tok(c, i);
  if (t === undefined) return true;
  let k: number;
  if (t.cls === T.OPEN) k = skipGroup(c, i);
  else if (t.cls === T.WORD || t.cls === T.CALL || keywordOf(t) === 'user') {
    k = operand(c, i);
    if (k === -1) return false;
  } else return t.cls === T.COMMENT || t.cls === T.SEMI;
  if (tok(c, k)?.text === 'as') k += 2;
  else if (cls(c, k) === T.WORD && tok(c, k - 1)?.cls === T.CLOSE) k++; // derived-table alias: (…)x
  const n = tok(c, k);
  if (n === undefined) return true;
  if (n.cls === T.SEMI || n.cls === T.COMMENT || n.cls === T.CLOSE || n.cls === T.COMMA || n.cls === T.UNION)
    return true;
  return AFTER_TABLE.has(n.text);
}

/**
 * A statement word that does not parse fully: after ";" it is still a stacked query unless prose
 * follows ("; select the best" has two plain words in a row); at the start, "DROP t;--".
 */
function looseStatement(c: Ctx, i: number, stacked: boolean, emit: Emit): void {
  const t = c.tokens[i] as Token;
  const n1 = tok(c, i + 1);
  const n2 = tok(c, i + 2);
  if (stacked) {
    if (n1 === undefined) emit('sqli-stacked', 2, 5);
    else if (n1.cls === T.WORD && n2?.cls === T.WORD) return;
    else if (n1.cls === T.WORD || n1.cls === T.OTHER || n1.cls === T.CALL || n1.cls === T.VARIABLE)
      emit('sqli-stacked', t.text === 'select' ? 2 : 1, 5);
    return;
  }
  if (t.text === 'drop' || t.text === 'truncate') {
    if (n1?.cls === T.WORD && (n2 === undefined || n2.cls === T.SEMI || n2.cls === T.COMMENT))
      emit('sqli-statement', 2, 5);
  }
}

/** Statements: after ";" (stacked), after "(" or a breakout (subquery, injected statement), or as the whole value. */
function statements(c: Ctx, emit: Emit): void {
  for (let i = 0; i < c.tokens.length; i++) {
    const t = c.tokens[i] as Token;
    const isStmt = t.cls === T.STATEMENT || (t.cls === T.CALL && keywordClass(t.text) === T.STATEMENT);
    const isSet = t.text === 'set' && t.cls === T.KEYWORD;
    const prev = i === 0 ? '' : cls(c, i - 1);
    if (!isStmt && !isSet) {
      if (t.text === 'replace' && prev === T.SEMI && replaceAt(c, i)) emit('sqli-stacked', 1, 5);
      continue;
    }
    if (!statementAt(c, i)) {
      if (isStmt && (prev === T.SEMI || i === 0)) looseStatement(c, i, prev === T.SEMI, emit);
      // "id=(select", "x in (SELECT": a subquery opened as the value's last word.
      else if (t.text === 'select' && prev === T.OPEN && i === c.tokens.length - 1 && i >= 2) {
        const op = tok(c, i - 2) as Token;
        if (op.cls === T.COMPARE || op.text === '=') emit('sqli-subquery', 2, 5);
      }
      continue;
    }
    // "x= SET @sql_notes": a variable assignment that ends the value.
    if (isSet && prev === T.COMPARE && i + 2 === c.tokens.length) {
      emit('sqli-statement', 2, 5);
      continue;
    }
    if (prev === T.SEMI) emit('sqli-stacked', 1, 5);
    else if (prev === T.OPEN && t.text === 'select') emit('sqli-subquery', 1, 5);
    else if (i === 0 && c.breakout) emit('sqli-statement', 1, 5);
    else if (i === 0 || prev === T.COMMENT || prev === T.CLOSE) emit('sqli-statement', 2, 5);
    else if (t.text !== 'set' && (prev === T.LOGIC || prev === T.COMPARE || prev === T.ARITH))
      emit('sqli-statement', 2, 5);
  }
}

/**
 * A condition appended to the query: AND/OR/XOR/||/&& followed by a comparison, a function call, or a
 * lone operand that ends the input. In the as-is reading it must follow a number, a closing
 * parenthesis or start the value ("1 or 1=1", ") or (1=1", "or 1=1"); after a breakout anywhere.
 */
function conditions(c: Ctx, emit: Emit): void {
  for (let i = 0; i < c.tokens.length; i++) {
    const t = c.tokens[i] as Token;
    if (t.cls !== T.LOGIC || t.text === 'not' || t.text === '!') continue;
    const prev = i === 0 ? '' : cls(c, i - 1);
    const anchored =
      (c.breakout && i <= 3) ||
      prev === T.NUMBER ||
      prev === T.CLOSE ||
      prev === T.COMPARE ||
      (i === 0 && !c.breakout) ||
      (c.breakout && (prev === T.STRING || prev === T.LITERAL));
    if (!anchored) continue;
    let k = i + 1;
    while (cls(c, k) === T.OPEN) k++;
    const e = expression(c, k);
    if (e.end === -1) continue;
    const fn = tok(c, k);
    const isSqlCall = fn?.cls === T.CALL && SQL_FUNCTIONS.has(fn.text);
    let end = e.end;
    while (cls(c, end) === T.CLOSE) end++;
    if (e.compares && (cleanEnd(c, end) || c.breakout)) {
      emit('sqli-condition', 1, 5);
      return;
    }
    if (isSqlCall && (c.breakout || cleanEnd(c, end))) {
      emit('sqli-condition', 1, 5);
      return;
    }
    // "' or 1--", "' or true;", "1 or 1#": a lone constant closed by a comment or ";" (not the end alone).
    const lone = tok(c, k);
    const closer = cls(c, end);
    // "the 'or' operator", "the word 'and'": the logic word is itself quoted; prose (or nothing) follows
    // in the open string. An injected constant is a word or number ("x' or 'y").
    if (
      lone?.cls === T.OPEN_STRING &&
      (lone.end - lone.start === 1 || hasBlank(c.value, lone.start + 1, lone.end))
    )
      continue;
    // "9999 or true": a number, then a lone truth constant that ends the value.
    if (
      !c.breakout &&
      prev === T.NUMBER &&
      lone?.cls === T.LITERAL &&
      e.operands === 1 &&
      end >= c.tokens.length
    ) {
      emit('sqli-condition', 2, 5);
      return;
    }
    if (
      lone !== undefined &&
      (lone.cls === T.NUMBER ||
        lone.cls === T.LITERAL ||
        lone.cls === T.STRING ||
        lone.cls === T.OPEN_STRING) &&
      e.operands === 1 &&
      (closer === T.COMMENT || closer === T.SEMI || (end >= c.tokens.length && c.breakout))
    ) {
      emit('sqli-condition', 1, 5);
      return;
    }
    if (c.breakout && i <= 1 && e.operands >= 1 && (closer === T.COMMENT || closer === T.SEMI)) {
      emit('sqli-condition', 2, 5);
      return;
    }
  }
}

function hasBlank(v: string, from: number, to: number): boolean {
  for (let k = from; k < to; k++) if (isGap(v.charCodeAt(k))) return true;
  return false;
}

/** After a breakout: the string is closed and the rest of the query commented out ("admin'--", "x')#"). */
function truncation(c: Ctx, emit: Emit): void {
  if (!c.breakout) return;
  let k = 0;
  while (cls(c, k) === T.CLOSE) k++;
  const t = tok(c, k);
  if (t === undefined) return;
  if (t.cls === T.COMMENT) {
    // "#" in prose ("press '#'") is followed by text; as a truncation it ends the value or a line.
    if (t.text === '#' && t.end - t.start > 1 && c.value.charCodeAt(t.start + 1) !== 32) return;
    emit('sqli-truncation', 1, 5);
    return;
  }
  if (t.cls === T.SEMI) {
    const n = tok(c, k + 1);
    if (n === undefined || n.cls === T.COMMENT) emit('sqli-truncation', 2, 5);
  }
}

/** After a breakout: string concatenation into a subquery or call: "'||(select …)", "'+sleep(5)+'", "'.chr(122).'". */
function concatenation(c: Ctx, emit: Emit): void {
  if (!c.breakout) return;
  const op = tok(c, 0);
  if (op === undefined) return;
  const isConcat =
    op.text === '||' || op.text === '+' || op.text === '|' || op.text === '.' || op.text === '&';
  if (!isConcat) return;
  const n = tok(c, 1);
  if (n === undefined) return;
  if (n.cls === T.OPEN || (n.cls === T.CALL && SQL_FUNCTIONS.has(n.text)) || n.cls === T.STATEMENT)
    emit('sqli-concat', 1, 5);
}

/** Clauses appended after a number, a ")" or a breakout: "1 order by 3", "') group by 2", "1 having 1=1". */
function clauses(c: Ctx, emit: Emit): void {
  for (let i = 0; i < c.tokens.length; i++) {
    const t = c.tokens[i] as Token;
    if (t.cls !== T.KEYWORD) continue;
    const prev = i === 0 ? '' : cls(c, i - 1);
    const anchored =
      (c.breakout && i <= 2) || prev === T.NUMBER || prev === T.CLOSE || (i === 0 && t.text === 'having');
    if (!anchored) continue;
    const n1 = tok(c, i + 1);
    const n2 = tok(c, i + 2);
    const byWhat = n2?.cls;
    if (
      (t.text === 'order' || t.text === 'group') &&
      n1?.text === 'by' &&
      n2 !== undefined &&
      (byWhat === T.NUMBER || byWhat === T.WORD || byWhat === T.CALL)
    ) {
      const e = expression(c, i + 2);
      if (e.end !== -1 && cleanEnd(c, e.end))
        emit('sqli-clause', c.breakout || n2.cls === T.NUMBER ? 1 : 2, 5);
    } else if (t.text === 'having' || t.text === 'where') {
      const e = expression(c, i + 1);
      if (e.end !== -1 && e.compares) emit('sqli-clause', 1, 5);
    } else if (t.text === 'limit' && n1?.cls === T.NUMBER && c.breakout) emit('sqli-clause', 2, 5);
  }
}

function literalValue(c: Ctx, t: Token): string | undefined {
  if (t.cls === T.NUMBER)
    return String(Number(t.text.startsWith('0x') ? Number.parseInt(t.text, 16) : t.text));
  if (t.cls === T.STRING) return c.value.slice(t.start + 1, t.end - 1);
  if (t.cls === T.OPEN_STRING) return c.value.slice(t.start + 1, t.end);
  return undefined;
}

/** Evaluates a comparison of two constants; undefined when it cannot tell. */
function constantTruth(
  op: string,
  negated: boolean,
  a: string,
  b: string,
  numeric: boolean,
): boolean | undefined {
  let r: boolean | undefined;
  const x = Number(a);
  const y = Number(b);
  switch (op) {
    case '=':
    case '==':
    case '<=>':
    case 'like':
    case 'glob':
    case 'is':
      r = numeric ? x === y : a === b;
      break;
    case '!=':
    case '<>':
      r = numeric ? x !== y : a !== b;
      break;
    case 'regexp':
    case 'rlike':
      r = a.includes(b);
      break;
    case '<':
      r = numeric ? x < y : undefined;
      break;
    case '>':
      r = numeric ? x > y : undefined;
      break;
    case '<=':
      r = numeric ? x <= y : undefined;
      break;
    case '>=':
      r = numeric ? x >= y : undefined;
      break;
    default:
      r = undefined;
  }
  return r === undefined ? undefined : negated ? !r : r;
}

/** A comparison of constants that is always true ("1=1", "'a'<>'b'", "2 is not 3"): the tautology itself. */
function tautology(c: Ctx, emit: Emit): void {
  for (let i = 0; i + 2 < c.tokens.length; i++) {
    const a = c.tokens[i] as Token;
    if (a.cls !== T.NUMBER && a.cls !== T.STRING) continue;
    let k = i + 1;
    let negated = false;
    let op = tok(c, k);
    if (op?.text === 'not') {
      negated = true;
      op = tok(c, ++k);
    }
    if (op === undefined || op.cls !== T.COMPARE) continue;
    if (op.text === 'is' && tok(c, k + 1)?.text === 'not') {
      negated = !negated;
      k++;
    }
    const b = tok(c, k + 1);
    if (b === undefined || (b.cls !== T.NUMBER && b.cls !== T.STRING && b.cls !== T.OPEN_STRING)) continue;
    // The comparison must stand alone: "x=1=1" or "1=1.5" parts of something else do not count.
    const before = i === 0 ? undefined : c.tokens[i - 1];
    if (before !== undefined && (before.cls === T.COMPARE || before.cls === T.ARITH || before.cls === T.DOT))
      continue;
    const after = tok(c, k + 2);
    // It must stand as a condition: "3 < 4 math worksheet" is prose.
    if (after !== undefined && !cleanEnd(c, k + 2)) continue;
    if (after !== undefined && after.cls === T.STRING) continue;
    const va = literalValue(c, a);
    const vb = literalValue(c, b);
    if (va === undefined || vb === undefined) continue;
    const numeric = a.cls === T.NUMBER && b.cls === T.NUMBER;
    // An open string only counts at the very end ("'x'!='y": the application adds the closing quote).
    if (b.cls === T.OPEN_STRING && vb.length > 40) continue;
    const truth = constantTruth(op.text, negated, va, vb, numeric);
    if (truth === true) {
      emit('sqli-tautology', 2, 5);
      return;
    }
  }
}

/** A value that is nothing but an SQL function call (or its opening): "concat(", "unhex(…)", "ascii(substr(…))". */
function loneCall(c: Ctx, emit: Emit): void {
  let k = 0;
  while (k < c.tokens.length && k < 3 && cls(c, k) !== T.CALL) {
    const x = cls(c, k);
    if (x !== T.OPEN && x !== T.COMMA && x !== T.ARITH && x !== T.COMPARE && x !== T.OTHER && x !== T.DOT)
      return;
    k++;
  }
  const t = tok(c, k);
  if (t === undefined || t.cls !== T.CALL) return;
  if (k > 0 && cls(c, k - 1) === T.DOT) return; // a method call in code
  // A bare opening "max(" (nothing after it) is a probe for any SQL function name.
  if (k + 2 === c.tokens.length && (SQL_FUNCTIONS.has(t.text) || MORE_FUNCTIONS.has(t.text))) {
    emit('sqli-call', 2, 5);
    return;
  }
  if (!SQL_FUNCTIONS.has(t.text)) return;
  const end = skipGroup(c, k + 1);
  if (end >= c.tokens.length) {
    emit('sqli-call', 2, 5);
    return;
  }
  const n = tok(c, end) as Token;
  if (n.cls === T.COMMENT || n.text === '::' || n.cls === T.LOGIC || n.cls === T.COMPARE || n.cls === T.SEMI)
    emit('sqli-call', 2, 5);
}

/**
 * After a breakout: an operator applied to an operand, then a comment that cuts the rest of the query
 * ("x'|email--", "id'not like id--", "user'collate nocase--", "' notnull --").
 */
function breakoutOperator(c: Ctx, emit: Emit): void {
  if (!c.breakout) return;
  let k = 0;
  while (cls(c, k) === T.CLOSE) k++;
  const op = tok(c, k);
  if (op === undefined) return;
  if (op.cls !== T.COMPARE && op.cls !== T.ARITH && op.cls !== T.LOGIC) return;
  // Walk a bounded run of operators and operands; it must end in a line comment.
  for (let n = k + 1; n < c.tokens.length && n < k + 8; n++) {
    const t = c.tokens[n] as Token;
    if (t.cls === T.COMMENT) {
      if (t.text === '--' || t.text === '#' || t.text === '/*') emit('sqli-breakout', 2, 5);
      return;
    }
    if (t.cls === T.SEMI) {
      const after = tok(c, n + 1);
      if (n > k + 1 && (after === undefined || after.cls === T.COMMENT)) emit('sqli-breakout', 2, 5);
      return;
    }
    if (
      !OPERANDS.has(t.cls) &&
      t.cls !== T.COMPARE &&
      t.cls !== T.ARITH &&
      t.cls !== T.LOGIC &&
      t.cls !== T.OTHER &&
      t.cls !== T.KEYWORD
    )
      return;
  }
}

/** ") AS name FROM", "` AS `alias` FROM", "1 AS \"x\" FROM": the tail of a select list, SQL-only syntax. */
function aliasFrom(c: Ctx, emit: Emit): void {
  for (let i = c.breakout ? 0 : 1; i + 1 < c.tokens.length; i++) {
    const t = c.tokens[i] as Token;
    if (t.text !== 'as' || t.cls !== T.KEYWORD) continue;
    // After a breakout the quote closed what came before ("` AS `alias` FROM").
    const before = i === 0 ? undefined : (c.tokens[i - 1] as Token);
    const sqlish =
      before === undefined ||
      before.cls === T.CLOSE ||
      before.cls === T.NUMBER ||
      (before.cls === T.WORD && before.text === '`') ||
      before.cls === T.STRING;
    if (!sqlish) continue;
    const alias = c.tokens[i + 1] as Token;
    if (alias.cls === T.OPEN_STRING) {
      // '6 AS" FROM': the alias quote opens and FROM follows at once.
      if (startsWithWord(c.value, alias.start + 1, 'from')) emit('sqli-statement', 2, 5);
      continue;
    }
    if (alias.cls !== T.WORD && alias.cls !== T.STRING && alias.cls !== T.KEYWORD) continue;
    if (c.tokens[i + 2]?.text === 'from') emit('sqli-statement', 2, 5);
  }
}

/** Does v hold the lower-case word w at `from` (after blanks), followed by a non-word character or the end? */
function startsWithWord(v: string, from: number, w: string): boolean {
  let k = from;
  while (k < v.length && isGap(v.charCodeAt(k))) k++;
  for (let j = 0; j < w.length; j++) if ((v.charCodeAt(k + j) | 32) !== w.charCodeAt(j)) return false;
  const after = v.charCodeAt(k + w.length);
  return Number.isNaN(after) || !isGateWordPart(after);
}

/** A value that starts with a FROM clause: "FROM users WHERE id=1", "from `db`.`t` limit", "FROM t GROUP BY x". */
function fromStart(c: Ctx, emit: Emit): void {
  if (c.breakout || tok(c, 0)?.text !== 'from') return;
  const table = tok(c, 1);
  if (table === undefined) return;
  let k: number;
  if (table.cls === T.OPEN) {
    if (isSelectLike(tok(c, 2))) emit('sqli-statement', 1, 5);
    return;
  }
  if (table.cls !== T.WORD) return;
  k = operand(c, 1);
  const quoted = table.text === '`' || table.text === '[' || cls(c, 2) === T.DOT;
  const n = tok(c, k);
  if (n === undefined) {
    if (quoted) emit('sqli-statement', 2, 5);
    return;
  }
  if (n.text === 'where') {
    const e = expression(c, k + 1);
    if (e.compares) emit('sqli-statement', 2, 5);
  } else if ((n.text === 'group' || n.text === 'order') && tok(c, k + 1)?.text === 'by')
    emit('sqli-statement', 2, 5);
  else if (n.text === 'limit' && (quoted || cls(c, k + 1) === T.NUMBER)) emit('sqli-statement', 2, 5);
}

const SQL_TYPES = new Set([
  'int',
  'integer',
  'bigint',
  'smallint',
  'text',
  'varchar',
  'char',
  'bool',
  'boolean',
  'json',
  'jsonb',
  'numeric',
  'decimal',
  'double',
  'float',
  'real',
  'regclass',
  'bytea',
  'inet',
  'uuid',
  'date',
  'timestamp',
]);

/** PostgreSQL casts to SQL types ("password::int", "version()::text"), the core of its error-based probes. */
function casts(c: Ctx, emit: Emit): void {
  for (let i = 1; i + 1 < c.tokens.length; i++) {
    const t = c.tokens[i] as Token;
    if (t.text !== '::') continue;
    const before = c.tokens[i - 1] as Token;
    if (
      before.cls !== T.WORD &&
      before.cls !== T.CLOSE &&
      before.cls !== T.STRING &&
      before.cls !== T.KEYWORD
    )
      continue;
    const type = c.tokens[i + 1] as Token;
    if (!SQL_TYPES.has(type.text)) continue;
    const after = tok(c, i + 2);
    if (after === undefined || after.cls !== T.WORD) {
      emit('sqli-cast', 2, 5);
      return;
    }
  }
}

/** CASE WHEN <condition> THEN: conditional logic only SQL writes this way. */
function caseWhen(c: Ctx, emit: Emit): void {
  for (let i = 0; i + 3 < c.tokens.length; i++) {
    const t = c.tokens[i] as Token;
    if (t.text !== 'case' || c.tokens[i + 1]?.text !== 'when') continue;
    const e = expression(c, i + 2);
    if (e.end !== -1 && tok(c, e.end)?.text === 'then') {
      // Without a comparison, "in case when needed then" is prose: a word before CASE, or a lone plain word as the condition.
      if (!e.compares && e.end === i + 3 && plainWord(c, i + 2) && !endsCase(c, e.end)) continue;
      if (!e.compares && cls(c, i - 1) === T.WORD) continue;
      emit('sqli-statement', e.compares ? 1 : 2, 5);
      return;
    }
  }
  // ") when 234 then": the middle of a CASE after a closing parenthesis.
  if (cls(c, 0) === T.CLOSE && tok(c, 1)?.text === 'when') {
    const e = expression(c, 2);
    if (e.end !== -1 && tok(c, e.end)?.text === 'then') emit('sqli-statement', 2, 5);
  }
}

/** Does an END close the CASE after the token at i (within 64 tokens)? */
function endsCase(c: Ctx, i: number): boolean {
  const stop = Math.min(c.tokens.length, i + 64); // bounded: a CASE ends within a few dozen tokens
  for (let k = i + 1; k < stop; k++) if ((c.tokens[k] as Token).text === 'end') return true;
  return false;
}

/** Is the token a word of letters only ("needed", not "condition1" or "a_b")? */
function plainWord(c: Ctx, i: number): boolean {
  const t = c.tokens[i];
  if (t === undefined || t.cls !== T.WORD) return false;
  for (let k = t.start; k < t.end; k++) {
    const ch = c.value.charCodeAt(k) | 32;
    if (ch < 97 || ch > 122) return false;
  }
  return true;
}

/**
 * Index of the quote a breakout reading starts after, when that quote ends the value's first word
 * ("admin' or …", "' union …"): no blank before it, so it is not an apostrophe inside prose
 * ("your parents' or yours"). -1 otherwise.
 */
function leadingQuote(c: Ctx): number {
  const first = c.tokens[0];
  if (!c.breakout || first === undefined) return -1;
  let q = first.start - 1;
  while (q >= 0 && isGap(c.value.charCodeAt(q))) q--;
  const ch = c.value.charCodeAt(q);
  if (q < 0 || (ch !== 39 && ch !== 34 && ch !== 96)) return -1;
  for (let k = 0; k < q; k++) if (isGap(c.value.charCodeAt(k))) return -1;
  return q;
}

const LOGIC_WORDS = new Set(['or', 'xor', 'and', '||', '&&']);

/**
 * A quote, then OR/AND and an expression that ends in a line comment, a final ";" or a dangling
 * operator ("' or xyz-", "'or(glob 1)--", "x' or glob(id,id);"): the condition is cut off for the query.
 * An expression that simply ends ("James' or Mary") is only suspicious.
 */
function breakoutLogic(c: Ctx, emit: Emit): void {
  let first = c.tokens[0];
  if (first === undefined) return;
  // "\\"1 or 1-": a number closes the string, then the condition; only a cut-off ending counts then.
  let from = 1;
  if (first.cls === T.NUMBER && c.tokens[1]?.cls === T.LOGIC) {
    first = c.tokens[1] as Token;
    from = 2;
  }
  if (first.cls !== T.LOGIC || !LOGIC_WORDS.has(first.text)) return;
  const q = leadingQuote(c);
  if (q === -1) return;
  const n = c.tokens.length;
  const atStart = q === 0 || (q === 1 && c.value.charCodeAt(0) === 92);
  // "'and", "\\'or": the value is a quote and a dangling logic word, nothing else.
  if (n === 1 && atStart) {
    emit('sqli-breakout', 2, 5);
    return;
  }
  // "'or'1", "\\`or`1": the logic word glued between two quotes, and the next operand glued after.
  if (
    atStart &&
    from === 1 &&
    first.end < c.value.length &&
    c.value.charCodeAt(first.end) === c.value.charCodeAt(q)
  ) {
    const after = c.value.charCodeAt(first.end + 1);
    if ((after >= 48 && after <= 57) || (after >= 97 && after <= 122) || (after >= 65 && after <= 90)) {
      emit('sqli-breakout', 2, 5);
      return;
    }
  }
  if (n < from + 1 || n > 12) return;
  let operands = 0;
  for (let k = from; k < n; k++) {
    const t = c.tokens[k] as Token;
    const last = k === n - 1;
    if (t.cls === T.COMMENT) {
      if (operands > 0 && (t.text === '--' || t.text === '#')) emit('sqli-breakout', 2, 5);
      return;
    }
    if (t.cls === T.SEMI) {
      if (operands > 0 && (last || cls(c, k + 1) === T.COMMENT)) emit('sqli-breakout', 2, 5);
      return;
    }
    if (OPERANDS.has(t.cls)) {
      if (t.cls === T.STRING || t.cls === T.OPEN_STRING) return; // a quoted phrase: prose
      operands++;
      continue;
    }
    const op = t.cls === T.ARITH || t.cls === T.COMPARE || t.cls === T.LOGIC || t.text === '!';
    if (last && op && operands > 0) {
      emit('sqli-breakout', 2, 5);
      return;
    }
    if (op || t.cls === T.OPEN || t.cls === T.CLOSE || t.cls === T.COMMA || t.cls === T.CALL) continue;
    // "(select email)": a subquery as the operand.
    if (t.text === 'select' && cls(c, k - 1) === T.OPEN) continue;
    return;
  }
  if (operands > 0 && from === 1) emit('sqli-breakout-logic', 2, 3);
}

/** Statement words that are rare in prose; SELECT, DROP, CREATE… start ordinary sentences too. */
const RARE_STATEMENTS = new Set([
  'union',
  'alter',
  'truncate',
  'shutdown',
  'waitfor',
  'declare',
  'exec',
  'execute',
]);

/**
 * A value that opens with an unmatched quote and goes straight on with UNION or a statement
 * ("'union a", "\\" ALTER t", "' union/"): the start of an injected query.
 */
function breakoutStatement(c: Ctx, emit: Emit): void {
  const first = c.tokens[0];
  const next = c.tokens[1];
  // "\` REGEXP ", "' like ": a value that opens with a quote and a pattern operator left without its right side.
  if (
    first !== undefined &&
    next === undefined &&
    first.cls === T.COMPARE &&
    PATTERN_OPERATORS.has(first.text) &&
    leadingQuote(c) === 0 &&
    first.start > 1
  ) {
    emit('sqli-breakout', 2, 5);
    return;
  }
  if (first === undefined || next === undefined) return;
  if (first.cls !== T.UNION && first.cls !== T.STATEMENT) return;
  const q = leadingQuote(c);
  if (q !== 0) return;
  // A closing quote later makes it a quoted phrase ("'Union Square' station").
  if (c.value.indexOf(c.value[0] as string, 1) !== -1) return;
  if (next.cls !== T.WORD && next.cls !== T.ARITH && next.cls !== T.COMMENT && next.cls !== T.STATEMENT)
    return;
  // In a parameter name ("'select H") any statement counts: field names are identifiers, not sentences.
  emit('sqli-breakout-statement', 2, c.name || RARE_STATEMENTS.has(first.text) ? 5 : 3);
}

/**
 * "pay=/3 or ", "x_id AND (": a parameter name that ends in OR/AND and a blank (or "(") right after an
 * operand, the condition left open for the rest of the query. Field names are identifiers; none ends in " or ".
 */
function danglingLogicName(c: Ctx, emit: Emit): void {
  if (!c.name) return;
  // "and '5'x": a name that opens with AND/OR and a quoted literal, the continuation of a condition.
  const head = c.tokens[0];
  if (head !== undefined && head.cls === T.LOGIC && head.text !== 'not' && cls(c, 1) === T.STRING) {
    emit('sqli-breakout', 2, 5);
    return;
  }
  let k = c.tokens.length - 1;
  const open = cls(c, k) === T.OPEN;
  if (open) k--;
  const last = c.tokens[k];
  if (last === undefined || last.cls !== T.LOGIC || last.text === 'not' || k === 0) return;
  // Left open: a "(" or a blank follows ("… or "); a name that merely ends in a word ("/Business and") is not.
  if (!open && !isGap(c.value.charCodeAt(last.end))) return;
  const prev = c.tokens[k - 1] as Token;
  if (!OPERANDS.has(prev.cls) && prev.cls !== T.CLOSE) return;
  emit('sqli-breakout', 2, 5);
}

/** Is the token a hexadecimal literal ("0x1a", "X'4f'" is a string)? */
function isHexNumber(c: Ctx, t: Token): boolean {
  return (
    t.cls === T.NUMBER &&
    t.end - t.start > 2 &&
    c.value.charCodeAt(t.start) === 48 &&
    (c.value.charCodeAt(t.start + 1) | 32) === 120
  );
}

/**
 * " 'abc', 0x1a", " 'item', (5)": a value that is a row of SQL literals, a quoted string first, then a
 * hex literal or a parenthesized number: the tail of an INSERT … VALUES list. In a parameter name
 * ("'admin', '1'") any second literal counts.
 */
function literalRow(c: Ctx, emit: Emit): void {
  if (c.breakout) return;
  const t = c.tokens;
  const first = t[0];
  if (first === undefined || first.cls !== T.STRING || c.value.charCodeAt(first.start) !== 39) return;
  if (cls(c, 1) !== T.COMMA) return;
  const second = t[2];
  if (second === undefined) return;
  let end = 3;
  if (isHexNumber(c, second)) end = 3;
  else if (second.cls === T.OPEN && cls(c, 3) === T.NUMBER && cls(c, 4) === T.CLOSE) end = 5;
  else if (c.name && second.cls === T.STRING) end = 3;
  else return;
  if (end === t.length) emit('sqli-statement', 2, 5);
}

/**
 * "\"'", "'\"", "\\'\"`": a value of quote characters alone, of two kinds or more, the probe that looks for
 * which quote breaks the query. One kind alone ("''", "\"\"") is an empty string.
 */
function quoteProbe(c: Ctx, emit: Emit): void {
  if (c.breakout) return;
  const v = c.value;
  if (v.length > 8) return;
  let kinds = 0;
  for (let k = 0; k < v.length; k++) {
    const ch = v.charCodeAt(k);
    if (ch === 39) kinds |= 1;
    else if (ch === 34) kinds |= 2;
    else if (ch === 96) kinds |= 4;
    else if (ch !== 92) return;
  }
  if (kinds === 3 || kinds === 5 || kinds === 6 || kinds === 7) emit('sqli-breakout', 2, 5);
}

/** "div(23,-2)", "mod (7, 3)": MySQL's integer operators written as calls on numbers, a probe. */
function numericOperatorCall(c: Ctx, emit: Emit): void {
  const op = c.tokens[0];
  if (op === undefined || op.cls !== T.ARITH || (op.text !== 'div' && op.text !== 'mod')) return;
  if (cls(c, 1) !== T.OPEN) return;
  const end = skipGroup(c, 1);
  if (end !== c.tokens.length || cls(c, end - 1) !== T.CLOSE) return;
  let numbers = 0;
  for (let k = 2; k < end - 1; k++) {
    const x = cls(c, k);
    if (x === T.NUMBER) numbers++;
    else if (x !== T.COMMA && x !== T.ARITH) return;
  }
  if (numbers === 2) emit('sqli-call', 2, 5);
}

/** Operator symbols no other everyday notation writes alone: MySQL's null-safe equality, C-style logic. */
const SQL_ONLY_SYMBOLS = new Set(['<=>', '&&', '||']);
/** Operator words only SQL has. */
const SQL_ONLY_OPERATORS = new Set(['xor', 'rlike']);
/** Operator words that are SQL's but also names elsewhere (Elasticsearch's "regexp" query, JS's RegExp). */
const OPERATOR_WORDS = new Set([
  'regexp',
  'like',
  'glob',
  'notnull',
  'isnull',
  'div',
  'mod',
  'sounds',
  'ilike',
]);
const PATTERN_OPERATORS = new Set(['like', 'rlike', 'regexp', 'glob', 'ilike']);

/** "ORder", "ordeR", "SeLeCt": letter case mixed inside a word, the mark of a filter-evasion attempt. */
function irregularCase(v: string, start: number, end: number): boolean {
  let uppers = 0;
  let lowerSeen = false;
  for (let k = start; k < end; k++) {
    const ch = v.charCodeAt(k);
    if (ch >= 65 && ch <= 90) {
      if (lowerSeen) return true;
      uppers++;
    } else if (ch >= 97 && ch <= 122) {
      if (uppers >= 2) return true;
      lowerSeen = true;
    }
  }
  return false;
}

function titleCase(v: string, t: Token): boolean {
  const ch = v.charCodeAt(t.start);
  return ch >= 65 && ch <= 90 && !irregularCase(v, t.start, t.end);
}

/**
 * A value that is nothing but a piece of an SQL condition, to be pasted into one: a lone operator
 * ("<=>", "XOR"), a postfix test ("IS NULL"), a pattern test with no left side ("LIKE NULL"), an IN list
 * ("in (0,1)"), a logic word and a number ("or 88"), ") like (", "EXEC name", "ORder by". Operator
 * symbols that filter languages also use (">=", "==") only count as parameter names.
 */
function fragment(c: Ctx, emit: Emit): void {
  if (c.breakout) return;
  const n = c.tokens.length;
  const t0 = c.tokens[0];
  if (t0 === undefined || n > 64) return;
  const x0 = t0.cls;
  const isOp = x0 === T.COMPARE || x0 === T.ARITH || x0 === T.LOGIC;
  if (n === 1) {
    if (!isOp) return;
    const text = t0.text;
    const letter = isWordLetter(text.charCodeAt(0));
    if (letter) {
      if (SQL_ONLY_OPERATORS.has(text)) emit('sqli-fragment', 2, 5);
      else if (OPERATOR_WORDS.has(text)) emit('sqli-fragment', 3, 3);
    } else if (text.length >= 2 && text !== '::') {
      if (c.name || SQL_ONLY_SYMBOLS.has(text)) emit('sqli-fragment', 2, 5);
      else emit('sqli-fragment', 3, 3);
    }
    return;
  }
  const t1 = c.tokens[1] as Token;
  let k = 0;
  if (t0.text === 'not' && x0 === T.LOGIC) k = 1;
  const op = c.tokens[k] as Token;
  const opText = op.cls === T.COMPARE || op.cls === T.CALL ? op.text : '';
  // IS [NOT] NULL / TRUE / FALSE.
  if (opText === 'is') {
    let j = k + 1;
    if (tok(c, j)?.text === 'not') j++;
    if (cls(c, j) === T.LITERAL && j === n - 1) emit('sqli-fragment', 2, 5);
    return;
  }
  // LIKE NULL, RLIKE 'x%', NOT REGEXP '^a'.
  if (PATTERN_OPERATORS.has(opText) && k + 2 === n) {
    const v = c.tokens[k + 1] as Token;
    if (v.cls === T.STRING || (v.cls === T.LITERAL && v.text === 'null')) emit('sqli-fragment', 2, 5);
    return;
  }
  // IN (1,2), IN ( — the list runs to the end of the value.
  if (opText === 'in' && cls(c, k + 1) === T.OPEN && skipGroup(c, k + 1) >= n) {
    // A list of literals or expressions, not of words ("in (Paris, France)" is prose).
    let commas = 0;
    let sqlish = false;
    for (let j = k + 2; j < n; j++) {
      const x = cls(c, j);
      if (x === T.COMMA) commas++;
      else if (x === T.NUMBER || x === T.STRING || x === T.ARITH) sqlish = true;
    }
    if ((commas > 0 && sqlish) || k + 2 === n) emit('sqli-fragment', 2, 5);
    return;
  }
  if (n === 2) {
    // "or 88": a logic word and a number, the right side of a condition.
    if (x0 === T.LOGIC && t0.text !== 'not' && t1.cls === T.NUMBER) emit('sqli-fragment', 2, 5);
    // "EXECUTE name": run a stored procedure or prepared statement ("exec summary" is an abbreviation).
    else if (t0.text === 'execute' && x0 === T.STATEMENT && t1.cls === T.WORD)
      emit('sqli-fragment', titleCase(c.value, t1) ? 3 : 2, 5);
    else if ((t0.text === 'order' || t0.text === 'group') && t1.text === 'by')
      emit('sqli-fragment', irregularCase(c.value, t0.start, t0.end) ? 2 : 3, 5);
    return;
  }
  if (n === 3) {
    // ") like (", ") or (": the joint of two parenthesized conditions.
    if (x0 === T.CLOSE && (t1.cls === T.COMPARE || t1.cls === T.LOGIC) && cls(c, 2) === T.OPEN)
      emit('sqli-fragment', 2, 5);
    // "xor 5-": the condition's right side cut off by an operator.
    else if (x0 === T.LOGIC && t0.text !== 'not' && t1.cls === T.NUMBER && cls(c, 2) === T.ARITH)
      emit('sqli-fragment', 2, 5);
    // "name LIKE '": a pattern test whose string the application closes.
    else if (
      t0.cls === T.WORD &&
      PATTERN_OPERATORS.has(t1.text) &&
      cls(c, 2) === T.OPEN_STRING &&
      (c.tokens[2] as Token).end - (c.tokens[2] as Token).start === 1
    )
      emit('sqli-fragment', 2, 5);
  }
}

/** "1.e(ascii)", "1.e.tables": MySQL reads "1.e" as a number glued to what follows, a parser-evasion trick. */
function numberGlue(c: Ctx, emit: Emit): void {
  for (let i = 0; i + 2 < c.tokens.length; i++) {
    const t = c.tokens[i] as Token;
    if (t.cls !== T.NUMBER || t.text.charCodeAt(t.text.length - 1) !== 46) continue;
    const e = c.tokens[i + 1] as Token;
    if (e.text !== 'e' || e.start !== t.end) continue;
    const after = cls(c, i + 2);
    // "1.e.tables", not an outline number ("1.e.", "2.e.iii").
    const name = tok(c, i + 3);
    const dotted = after === T.DOT && name !== undefined && name.cls === T.WORD && !romanNumeral(name.text);
    if (after === T.OPEN || dotted) {
      emit('sqli-obfuscation', 2, 5);
      return;
    }
  }
}

function romanNumeral(w: string): boolean {
  for (let k = 0; k < w.length; k++) {
    const ch = w.charCodeAt(k);
    if (ch !== 105 && ch !== 118 && ch !== 120) return false; // i v x
  }
  return true;
}

/** MySQL executable comments with a version or a statement word: "/*!50000union", "/*!select". */
function executableComment(c: Ctx, emit: Emit): void {
  if (c.breakout) return;
  const v = c.value;
  let p = v.indexOf('/*!');
  for (let guard = 0; p !== -1 && guard < 8; guard++) {
    let k = p + 3;
    while (k < v.length && k < p + 12 && isNumberPart(v.charCodeAt(k))) k++;
    const digits = k - p - 3;
    let w = k;
    while (w < v.length && w < k + 10 && isNameChar(v.charCodeAt(w))) w++;
    const kw = keywordClass(v.slice(k, w).toLowerCase());
    if (digits >= 4 || kw === T.STATEMENT || kw === T.UNION) {
      emit('sqli-comment', 2, 5);
      return;
    }
    p = v.indexOf('/*!', p + 3);
  }
  // "DR/**/OP", "UN/*x*/ION": a comment splitting a statement word in two.
  p = v.indexOf('/*');
  for (let guard = 0; p > 0 && guard < 8; guard++) {
    const close = v.indexOf('*/', p + 2);
    if (close === -1 || close - p > 64) break;
    let a = p;
    while (a > 0 && p - a < 8 && isWordLetter(v.charCodeAt(a - 1))) a--;
    let b = close + 2;
    while (b < v.length && b - close - 2 < 8 && isWordLetter(v.charCodeAt(b))) b++;
    if (a < p && b > close + 2) {
      const kw = keywordClass((v.slice(a, p) + v.slice(close + 2, b)).toLowerCase());
      if (kw === T.STATEMENT || kw === T.UNION) {
        emit('sqli-comment', 2, 5);
        return;
      }
    }
    p = v.indexOf('/*', close + 2);
  }
}

const JSON_OPERATORS = new Set(['?', '?|', '?&', '->', '->>', '@>', '<@']);

/** A whole value that compares constants only: "'{\"a\":2}' < '$.c' = 7", "'{…}' ? 'a'". */
function constantComparison(c: Ctx, emit: Emit): void {
  if (c.breakout || cls(c, 0) !== T.STRING) return;
  const e = expression(c, 0);
  if (e.end !== c.tokens.length || !e.compares) return;
  let json = false;
  for (const t of c.tokens) {
    const x = t.cls;
    if (x === T.COMPARE || x === T.ARITH) {
      if (JSON_OPERATORS.has(t.text)) json = true;
    } else if (x !== T.STRING && x !== T.NUMBER && x !== T.OPEN_STRING && x !== T.LITERAL) return;
  }
  if (e.operands >= 3 || (json && e.operands === 2)) emit('sqli-comparison', 2, 5);
}

const SHAPES: readonly ((c: Ctx, emit: Emit) => void)[] = [
  fragment,
  numberGlue,
  executableComment,
  constantComparison,
  unionSelect,
  delay,
  probes,
  statements,
  conditions,
  truncation,
  concatenation,
  clauses,
  tautology,
  loneCall,
  breakoutOperator,
  aliasFrom,
  fromStart,
  casts,
  caseWhen,
  breakoutLogic,
  breakoutStatement,
  numericOperatorCall,
  danglingLogicName,
  literalRow,
  quoteProbe,
];

/** Words that make a value without SQL punctuation worth tokenizing ("1 union select 1,2", "1 order by 3"). */
const TRIGGER_WORDS: readonly string[] = [
  'union',
  'select',
  'order',
  'group',
  'having',
  'exec',
  'execute',
  'waitfor',
  'declare',
  'shutdown',
];

function isSpecial(v: string, i: number, c: number): boolean {
  switch (c) {
    case 39: // '
    case 34: // "
    case 96: // `
    case 40: // (
    case 59: // ;
    case 35: // #
    case 60: // <
    case 62: // >
    case 124: // |
    case 38: // &
    case 33: // !
    case 41: // )
      return true;
    case 58: // ::
      return v.charCodeAt(i + 1) === 58;
    case 61: {
      // "=", except base64 padding at the end.
      let k = i;
      while (k < v.length && v.charCodeAt(k) === 61) k++;
      return k < v.length;
    }
    case 45: // --
      return v.charCodeAt(i + 1) === 45;
    case 47: // /*
      return v.charCodeAt(i + 1) === 42;
    case 64: {
      // @@var or a variable after a blank; not an e-mail address.
      if (v.charCodeAt(i + 1) === 64) return true;
      const p = i === 0 ? 32 : v.charCodeAt(i - 1);
      return p === 32 || p === 9 || p === 10 || p === 44 || p === 61;
    }
    default:
      return false;
  }
}

/** Comparison words that matter between numbers ("1 is not 2", "42 like 42", "1 or 2"). */
const NUMERIC_WORDS: readonly string[] = [
  'or',
  'and',
  'xor',
  'not',
  'like',
  'is',
  'div',
  'mod',
  'glob',
  'rlike',
  'regexp',
];

/** Case-insensitive comparison of v[start, start+len) with a list of lower-case words, without allocating. */
function wordIn(words: readonly string[], v: string, start: number, len: number): boolean {
  for (const w of words) {
    if (w.length !== len) continue;
    let k = 0;
    while (k < len && (v.charCodeAt(start + k) | 32) === w.charCodeAt(k)) k++;
    if (k === len) return true;
  }
  return false;
}

/** Bit masks of the first letters of the gate's words, to skip most words with one test. */
function initials(words: readonly string[]): number {
  let m = 0;
  for (const w of words) m |= 1 << (w.charCodeAt(0) - 97);
  return m;
}
/** The same masks by word length (index 0–8): most words of a given length and initial are no gate word. */
function initialsByLength(words: readonly string[]): Int32Array {
  const t = new Int32Array(9);
  for (const w of words) t[w.length] = (t[w.length] as number) | (1 << (w.charCodeAt(0) - 97));
  return t;
}

const TRIGGER_INITIALS = initialsByLength(TRIGGER_WORDS);
const NUMERIC_INITIALS = initialsByLength(NUMERIC_WORDS);

/** Catalog names without "_" or a sys/ms prefix, which the gate looks up whole. */
const CATALOG_PLAIN: readonly string[] = ['tempdb', 'openrowset', 'opendatasource'];

const GATE_NONE = 0;
const GATE_CATALOG = 1;
const GATE_FULL = 2;

const G_OTHER = 0;
const G_LETTER = 1;
const G_DIGIT = 2;
/** Always SQL punctuation: quotes, parentheses, ";", "#", comparison and logic characters. */
const G_SPECIAL = 3;
/** SQL punctuation in some contexts only (isSpecial decides): ":", "=", "-", "/", "@". */
const G_MAYBE = 4;
/**
 * "(", ")", ";" and a lone "&" or "!" fill user agents, code and prose. Alone they make no SQL: a call needs a function
 * name, a stacked query a statement word, a subquery SELECT; only a ")" that closes nothing opened
 * in the value breaks out on its own (readings()). So they count only with an SQL word (sqlWordIn).
 */
const G_OPEN = 5;
const G_CLOSE = 6;
const G_SEMI = 7;
/** "'": a quote, unless it is an apostrophe inside a word ("O'Brien", "don't"); see apostrophe(). */
const G_APOSTROPHE = 8;
/** "&" and "!": "&&", "!=", "!<", "!>", "!~" are SQL operators; a lone "&" or "!" ("R&D", "Go!") is soft. */
const G_AMP = 9;
const G_BANG = 10;

/** Character classes of ASCII for the gate: one table read per character instead of a chain of tests. */
const GATE_CLASS = ((): Uint8Array => {
  const t = new Uint8Array(128);
  for (let c = 65; c <= 90; c++) t[c] = G_LETTER;
  for (let c = 97; c <= 122; c++) t[c] = G_LETTER;
  t[95] = G_LETTER;
  for (let c = 48; c <= 57; c++) t[c] = G_DIGIT;
  for (const ch of '"`#<>|') t[ch.charCodeAt(0)] = G_SPECIAL;
  t[38] = G_AMP;
  t[33] = G_BANG;
  t[39] = G_APOSTROPHE;
  t[40] = G_OPEN;
  t[41] = G_CLOSE;
  t[59] = G_SEMI;
  for (const ch of ':=-/@') t[ch.charCodeAt(0)] = G_MAYBE;
  return t;
})();

/**
 * The cheap gate: SQL needs punctuation (a quote, a parenthesis, an operator, a comment, ";", "@@")
 * or, without any, a clause word, or a comparison word next to digits. Words with "_" or a "sys"
 * prefix may name a catalog. Most values are plain words and stop here.
 */
export function gate(v: string): number {
  let digits = false;
  let soft = false;
  let depth = 0;
  let numericWord = false;
  let catalog = false;
  const n = v.length;
  let i = 0;
  while (i < n) {
    let c = v.charCodeAt(i);
    const k = c < 128 ? (GATE_CLASS[c] as number) : G_OTHER;
    if (k === G_LETTER) {
      // One word: scan it whole, then look it up once by length and initial.
      const wordStart = i;
      do {
        if (c === 95) catalog = true;
        i++;
        c = i < n ? v.charCodeAt(i) : 32;
      } while (c < 128 && GATE_CLASS[c] === G_LETTER);
      const len = i - wordStart;
      const first = v.charCodeAt(wordStart) | 32;
      if (len >= 4) {
        const second = v.charCodeAt(wordStart + 1) | 32;
        if ((first === 115 && second === 121) || (first === 109 && second === 115))
          catalog = true; // sys… ms…
        // tempdb, openrowset, opendatasource.
        else if (
          (first === 116 && len === 6 && wordIn(CATALOG_PLAIN, v, wordStart, len)) ||
          (first === 111 && len >= 10 && wordIn(CATALOG_PLAIN, v, wordStart, len))
        )
          catalog = true;
        if (
          len <= 8 &&
          ((TRIGGER_INITIALS[len] as number) & (1 << (first - 97))) !== 0 &&
          wordIn(TRIGGER_WORDS, v, wordStart, len)
        )
          return GATE_FULL;
        if (len === 4 && first === 99 && caseWhenAt(v, wordStart, i)) return GATE_FULL;
      }
      if (
        len <= 6 &&
        !numericWord &&
        ((NUMERIC_INITIALS[len] as number) & (1 << (first - 97))) !== 0 &&
        wordIn(NUMERIC_WORDS, v, wordStart, len) &&
        nextToNumber(v, wordStart, i)
      )
        numericWord = true;
      continue;
    }
    if (k === G_DIGIT) digits = true;
    else if (c === 46 && digits && (v.charCodeAt(i + 1) | 32) === 101) {
      // "1.e(" / "1.e.": a number glued to a name (numberGlue).
      const after = v.charCodeAt(i + 2);
      const before = v.charCodeAt(i - 1);
      if ((after === 40 || after === 46) && before >= 48 && before <= 57) return GATE_FULL;
    } else if (k === G_SPECIAL) {
      // "linux#5.10", "nodejs#20" (user agents, tags): a "#" inside a name before a number comments nothing out.
      if (c === 35 && hashInName(v, i)) soft = true;
      else return GATE_FULL;
    } else if (k === G_OPEN) {
      depth++;
      soft = true;
    } else if (k === G_CLOSE) {
      if (depth === 0) return GATE_FULL; // closes something outside the value: a breakout
      depth--;
    } else if (k === G_SEMI) soft = true;
    else if (k === G_APOSTROPHE && !apostrophe(v, i)) return GATE_FULL;
    else if (k === G_AMP) {
      if (v.charCodeAt(i + 1) === 38) return GATE_FULL;
      soft = true;
    } else if (k === G_BANG) {
      const n = v.charCodeAt(i + 1);
      if (n === 61 || n === 60 || n === 62 || n === 126) return GATE_FULL;
      soft = true;
    } else if (k === G_MAYBE) {
      // "scale=3.00", "v=2" (user agents, settings): a name assigned a number is SQL only with an SQL word.
      if (c === 61 && softAssignment(v, i)) soft = true;
      else if (isSpecial(v, i, c)) return GATE_FULL;
    }
    i++;
  }
  if (digits && numericWord) return GATE_FULL;
  if (soft && sqlWordIn(v)) return GATE_FULL;
  return catalog ? GATE_CATALOG : GATE_NONE;
}

/** Is the "#" at i between a letter and a digit ("linux#5", not "1#" or "'#")? */
function hashInName(v: string, i: number): boolean {
  const p = v.charCodeAt(i - 1) | 32;
  const n = v.charCodeAt(i + 1);
  return p >= 97 && p <= 122 && n >= 48 && n <= 57;
}

/** Is the "=" at i between a letter and a digit ("scale=3", not "1=1" or "a='x'")? */
function softAssignment(v: string, i: number): boolean {
  const p = v.charCodeAt(i - 1) | 32;
  const n = v.charCodeAt(i + 1);
  return p >= 97 && p <= 122 && n >= 48 && n <= 57;
}

/** Is the word at [start, end) "case" followed by "when" ("case when x then y" has no punctuation)? */
function caseWhenAt(v: string, start: number, end: number): boolean {
  return isGap(v.charCodeAt(end)) && startsWithWord(v, start, 'case') && startsWithWord(v, end, 'when');
}

/** A blank between SQL words: whitespace, or "+" (a space in query strings and some path segments). */
function isGap(c: number): boolean {
  return c === 32 || c === 43 || (c >= 9 && c <= 13) || c === 160;
}

/**
 * Is the word at [start, end) an operator with a number (or a parenthesis) as an operand: "1 or 2",
 * "x like 5", ") or (". "Safari/537.36 (KHTML, like Gecko)" has digits and "like", but not side by side.
 */
function nextToNumber(v: string, start: number, end: number): boolean {
  let k = start - 1;
  while (k >= 0 && isGap(v.charCodeAt(k))) k--;
  const p = k >= 0 ? v.charCodeAt(k) : 0;
  if (p === 40 || p === 41) return true;
  if (p >= 48 && p <= 57) {
    // A number, not the tail of a name or version ("17_4_1 like", "x64 or"): bounded look-back.
    let b = k - 1;
    while (b >= 0 && b > k - 32 && isNumberPart(v.charCodeAt(b))) b--;
    const q = b >= 0 ? v.charCodeAt(b) : 32;
    if (!(isNameChar(q) || (q >= 48 && q <= 57))) return true;
  }
  k = end;
  while (k < v.length && isGap(v.charCodeAt(k))) k++;
  const n = k < v.length ? v.charCodeAt(k) : 0;
  return (n >= 48 && n <= 57) || n === 40 || n === 41 || n === 46;
}

function isNumberPart(c: number): boolean {
  return (c >= 48 && c <= 57) || c === 46;
}

function isNameChar(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || c === 36 || c >= 0xc0;
}

/**
 * Is the "'" at i an apostrophe in prose: a letter on each side and no SQL word after it ("O'Brien",
 * "isn't")? "a'or'b" and "x'and'sleep(1)" break out with a keyword, so their quote stays a quote.
 */
function apostrophe(v: string, i: number): boolean {
  const p = i > 0 ? v.charCodeAt(i - 1) : 0;
  if (!((p >= 97 && p <= 122) || (p >= 65 && p <= 90))) return false;
  let h = 0;
  let k = i + 1;
  for (; k < v.length && k < i + 34; k++) {
    const d = v.charCodeAt(k);
    if (!isGateWordPart(d)) break;
    h = (Math.imul(h, 31) + (d | 32)) | 0;
  }
  const n = v.charCodeAt(i + 1);
  if (!((n >= 97 && n <= 122) || (n >= 65 && n <= 90))) return false;
  return !SQL_WORD_HASHES.has(h) && !SQL_CALL_HASHES.has(h);
}

/** Hash of a lower-cased word (31-multiplier over char codes | 32): collisions only let more values through. */
function wordHash(w: string): number {
  let h = 0;
  for (let k = 0; k < w.length; k++) h = (Math.imul(h, 31) + (w.charCodeAt(k) | 32)) | 0;
  return h;
}

/** SQL words that count anywhere next to "(", ")" or ";": keywords, catalogs. */
const SQL_WORD_HASHES = new Set<number>();
/** Catalog names (catalogWords). */
const CATALOG_HASHES = new Set<number>();
/** Function names that count only as calls ("version(" but not "Version/17.4", "like(" but not "like Gecko"). */
const SQL_CALL_HASHES = new Set<number>();

function isGateWordPart(c: number): boolean {
  return (
    (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || c === 36 || (c >= 48 && c <= 57) || c >= 0xc0
  );
}

/**
 * Does the value hold an SQL keyword, catalog name or SQL function call? One pass, no allocation: each
 * word (a letter, "_" or "$" run with digits, as the lexer reads it) is hashed and looked up.
 */
function sqlWordIn(v: string): boolean {
  const n = v.length;
  let i = 0;
  while (i < n) {
    const c = v.charCodeAt(i);
    if (!((c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || c === 36 || c >= 0xc0)) {
      i++;
      continue;
    }
    const start = i;
    let h = 0;
    for (; i < n; i++) {
      const d = v.charCodeAt(i);
      if (!isGateWordPart(d)) break;
      h = (Math.imul(h, 31) + (d | 32)) | 0;
    }
    if (i - start > 32) continue;
    if (SQL_WORD_HASHES.has(h)) return true;
    if (SQL_CALL_HASHES.has(h)) {
      let k = i;
      while (k < n && isBlankOrComment(v, k)) k++;
      if (v.charCodeAt(k) === 40) return true;
    }
  }
  return false;
}

/** A blank (any the lexer skips); "/*" already opens the full gate, so comments need no care here. */
function isBlankOrComment(v: string, k: number): boolean {
  const c = v.charCodeAt(k);
  return c === 32 || (c >= 9 && c <= 13) || c === 160 || c === 0x2028 || c === 0x2029 || c === 0xfeff;
}

/** Catalog names among the words of a plain value ("FROM INFORMATION_SCHEMA.", "tempdb"). */
function catalogWords(value: string, out: Finding[]): void {
  let start = -1;
  let h = 0;
  for (let i = 0; i <= value.length; i++) {
    const c = i < value.length ? value.charCodeAt(i) : 32;
    if ((c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95 || (c >= 48 && c <= 57)) {
      if (start === -1) {
        start = i;
        h = 0;
      }
      h = (Math.imul(h, 31) + (c | 32)) | 0;
      continue;
    }
    // The hash screens words without copying them; only a hit is copied and compared.
    if (start !== -1 && i - start >= 4 && i - start <= 24 && CATALOG_HASHES.has(h)) {
      if (CATALOG_WORDS.has(value.slice(start, i).toLowerCase())) {
        out.push({ rule: 'sqli-catalog', family: FAMILY, pl: 1, score: 5 });
        return;
      }
    }
    start = -1;
  }
}

/** Readings of one value: as is, and after its first single and first double quote when that quote breaks out. */
export function readings(value: string, name = false): Ctx[] {
  const asIs = tokenize(value);
  const out: Ctx[] = [{ tokens: asIs, breakout: false, value, name }];
  // A value that closes parentheses first ("1) or (1=1", ") union select") breaks out of them.
  let k = 0;
  if (asIs[0] !== undefined && asIs[0].cls !== T.CLOSE && asIs[1]?.cls === T.CLOSE) k = 1;
  if (asIs[k]?.cls === T.CLOSE) {
    while (asIs[k]?.cls === T.CLOSE) k++;
    if (k < asIs.length) out.push({ tokens: asIs.slice(k), breakout: true, value });
  }
  for (const q of QUOTES) {
    let p = value.indexOf(q);
    if (p === -1) continue;
    // "'''or 1": in a run of three (five…) quotes the doubled ones are escaped; the last one closes.
    let run = 1;
    while (run < 8 && value[p + run] === q) run++;
    // "foo\\''or'": the backslash escapes the first quote of the run (MySQL), the next one closes.
    if (run >= 2 && p > 0 && value.charCodeAt(p - 1) === 92) {
      p++;
      run--;
    }
    if (run >= 3 && run % 2 === 1) p += run - 1;
    // A letter or digit right after the quote ("O'Brien", "it's", "5'11") keeps it inside prose.
    const after = value.charCodeAt(p + 1);
    // A value that opens with an escaped quote ("\\"1 or 1-") means to break out even before a number.
    const escaped = p === 1 && value.charCodeAt(0) === 92;
    if ((after >= 97 && after <= 122) || (after >= 65 && after <= 90) || (after >= 48 && after <= 57)) {
      const kw = tokenize(value, p + 1, 1)[0];
      if (kw === undefined || kw.cls === T.WORD || (kw.cls === T.NUMBER && !escaped)) continue;
    }
    const tokens = tokenize(value, p + 1);
    const first = tokens[0];
    // A word or number right after the quote ("O'Brien", "it's", "5'11") keeps the quote inside prose.
    if (first !== undefined && first.start === p + 1) {
      if (first.cls === T.WORD || (first.cls === T.NUMBER && !escaped) || first.cls === T.OPEN_STRING)
        continue;
      if (first.cls === T.STRING) continue;
    }
    if (first !== undefined && first.cls === T.WORD) continue;
    out.push({ tokens, breakout: true, value, name });
  }
  return out;
}

/** Quotes a value may break out of: string literals, and MySQL's backticked identifiers ("` AS `x` FROM", "a@b`;"). */
const QUOTES = ["'", '"', '`'];

function inspectValue(value: string, emit: Emit, name = false): void {
  for (const c of readings(value, name)) for (const shape of SHAPES) shape(c, emit);
}

/** Names of functions and keywords a probe opens with a bare "(": SQL_FUNCTIONS, MORE_FUNCTIONS and these. */
const OPENING_WORDS = new Set(['in', 'password', 'if', 'user', 'version', 'exists', 'values', 'select']);

/**
 * "IN (", "version=(", "length||(", "day. (", "Password>$(": a value that is an SQL function or keyword
 * name, then only punctuation, then an opening parenthesis that ends it. A probe for which name the
 * filter lets through. Raw scan: the first word, a short run of non-alphanumerics, "(" last.
 */
function openingCall(v: string): boolean {
  let end = v.length;
  while (end > 0 && isGap(v.charCodeAt(end - 1))) end--;
  if (end < 3 || v.charCodeAt(end - 1) !== 40) return false;
  let i = 0;
  while (i < end && isGap(v.charCodeAt(i))) i++;
  const start = i;
  while (i < end && i - start <= 20 && isWordLetter(v.charCodeAt(i))) i++;
  if (i === start || i - start > 20) return false;
  // The run between the name and "(": punctuation only ("$" of "$(" included), at most 8 characters.
  if (end - 1 - i > 8) return false;
  // "time :(" is a frown, not a call.
  const before = v.charCodeAt(end - 2);
  if ((before === 58 || before === 59) && isGap(v.charCodeAt(end - 3))) return false;
  for (let k = i; k < end - 1; k++) {
    const ch = v.charCodeAt(k);
    if (isWordLetter(ch) || (ch >= 48 && ch <= 57) || ch === 40) return false;
  }
  const word = v.slice(start, i).toLowerCase();
  return SQL_FUNCTIONS.has(word) || MORE_FUNCTIONS.has(word) || OPENING_WORDS.has(word);
}

/**
 * A value the gate lets out: the catalog scan, a bare opening call ("day. ("). Returns true when it is
 * a short operator fragment without punctuation ("XOR", "IS NULL") to read in full after all.
 */
function plainValue(value: string, g: number, out: Finding[]): boolean {
  if (g === GATE_CATALOG) catalogWords(value, out);
  if (value.length <= 24 && startsWithOperator(value)) return true;
  if (value.charCodeAt(value.length - 1) === 40 || value.charCodeAt(value.length - 1) === 32)
    if (endsWithOpen(value) && openingCall(value))
      out.push({ rule: 'sqli-call', family: FAMILY, pl: 2, score: 5 });
  return false;
}

/** Is the last non-blank character "("? (Cheap test before openingCall.) */
function endsWithOpen(v: string): boolean {
  let end = v.length - 1;
  while (end > 0 && isGap(v.charCodeAt(end))) end--;
  return v.charCodeAt(end) === 40;
}

function isWordLetter(c: number): boolean {
  return (c >= 97 && c <= 122) || (c >= 65 && c <= 90) || c === 95;
}

/** First words of the operator fragments that hold no punctuation ("XOR", "IS NULL", "LIKE NULL", "RLIKE"). */
const FRAGMENT_STARTS: readonly string[] = [
  'xor',
  'rlike',
  'regexp',
  'like',
  'is',
  'not',
  'glob',
  'notnull',
  'isnull',
];
const FRAGMENT_INITIALS = initials(FRAGMENT_STARTS);

/** Does a short value without SQL punctuation start with an operator word (see fragment)? No allocation. */
function startsWithOperator(v: string): boolean {
  let i = 0;
  while (i < v.length && isGap(v.charCodeAt(i))) i++;
  const first = v.charCodeAt(i) | 32;
  if (first === 61) return v === '==' || v === '==='; // "==" is all padding to the gate
  if (first < 97 || first > 122 || (FRAGMENT_INITIALS & (1 << (first - 97))) === 0) return false;
  const start = i;
  while (i < v.length && isWordLetter(v.charCodeAt(i))) i++;
  const len = i - start;
  return len >= 2 && len <= 7 && wordIn(FRAGMENT_STARTS, v, start, len);
}

/** Typographic quotes some database connectors fold to "'" ("1’ OR ’1’=’1"). */
function hasCurlyQuote(v: string): boolean {
  return (
    v.indexOf('\u2019') !== -1 ||
    v.indexOf('\u2018') !== -1 ||
    v.indexOf('\u00b4') !== -1 ||
    v.indexOf('\u02bc') !== -1
  );
}

const NAME_LOCATIONS = new Set(['query-name', 'body-name', 'cookie-name', 'multipart-name']);

/** Attribute values and text nodes of an XML document (bounded: at most 256 parts). */
export function xmlParts(xml: string): string[] {
  const parts: string[] = [];
  let i = 0;
  while (i < xml.length && parts.length < 256) {
    const c = xml.charCodeAt(i);
    if (c === 62) {
      // Text after ">" up to the next "<".
      const end = xml.indexOf('<', i + 1);
      const text = xml.slice(i + 1, end === -1 ? xml.length : end);
      if (text.trim() !== '') parts.push(text);
      i = end === -1 ? xml.length : end;
      continue;
    }
    if (c === 61 && (xml.charCodeAt(i + 1) === 34 || xml.charCodeAt(i + 1) === 39)) {
      const q = xml[i + 1] as string;
      const end = xml.indexOf(q, i + 2);
      if (end === -1) break;
      parts.push(xml.slice(i + 2, end));
      i = end + 1;
      continue;
    }
    i++;
  }
  return parts;
}

/**
 * A path segment is not form-decoded, yet some applications read "+" in it as a space ("24'union+all+
 * select+1"). A path value with "+", no blank and a quote (a string breakout, the sign that the segment
 * reaches SQL) gets a second reading with "+" as the separator. Without a quote "+" stays arithmetic:
 * "24+union+all+select" in a raw path is not read as words (CRS counts it benign too).
 */
function plusAsSpace(value: string, input: Input): string | undefined {
  if (value.indexOf('+') === -1 || value.indexOf(' ') !== -1) return undefined;
  // Elsewhere a "+" left after form decoding was sent encoded: a double-encoded query ("FROM+%60t%60+WHERE").
  if (input.location === 'header' || input.location === 'cookie') return undefined;
  if (value.indexOf("'") === -1 && value.indexOf('"') === -1 && value.indexOf('`') === -1) return undefined;
  return value.replaceAll('+', ' ');
}

export const sqliDetector: Detector = {
  family: FAMILY,
  detect(value: string, input: Input, out: Finding[]): void {
    if (value.length < 2) return;
    const g = gate(value);
    if (g !== GATE_FULL && !plainValue(value, g, out)) return;
    // Each rule is reported once per level: look back over this call's own findings (few) instead of a Set.
    const first = out.length;
    const emit: Emit = (rule, pl, score) => {
      for (let k = first; k < out.length; k++) {
        const f = out[k] as Finding;
        if (f.rule === rule && f.pl === pl) return;
      }
      out.push({ rule, family: FAMILY, pl, score });
    };
    if (input.location === 'xml' && value.charCodeAt(0) === 60) {
      // An XML document arrives whole: its attribute values and texts are the values to read.
      for (const raw of xmlParts(value)) {
        const part = htmlDecode(raw);
        if (gate(part) !== GATE_NONE || (part.length <= 24 && startsWithOperator(part)))
          inspectValue(part, emit);
        if (openingCall(part)) emit('sqli-call', 2, 5);
      }
      return;
    }
    const name = NAME_LOCATIONS.has(input.location);
    inspectValue(value, emit, name);
    if (endsWithOpen(value) && openingCall(value)) emit('sqli-call', 2, 5);
    const spaced = plusAsSpace(value, input);
    if (spaced !== undefined && gate(spaced) === GATE_FULL) inspectValue(spaced, emit);
    // Short values only: the folded payloads are short, long prose is full of typographic quotes.
    if (value.length <= 256 && hasCurlyQuote(value)) {
      const folded = value.replace(/[\u2018\u2019\u00b4\u02bc]/g, "'");
      if (gate(folded) === GATE_FULL) inspectValue(folded, emit, name);
    }
  },
};

for (const w of keywords()) (w === 'like' ? SQL_CALL_HASHES : SQL_WORD_HASHES).add(wordHash(w));
for (const w of CATALOG_WORDS) {
  SQL_WORD_HASHES.add(wordHash(w));
  CATALOG_HASHES.add(wordHash(w));
}
for (const set of [SQL_FUNCTIONS, MORE_FUNCTIONS, DANGER_FUNCTIONS, DELAY_FUNCTIONS])
  for (const w of set) SQL_CALL_HASHES.add(wordHash(w));
