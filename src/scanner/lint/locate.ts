import { isMap, isScalar, isSeq, LineCounter, type Node, type Pair, parseDocument, type YAMLMap } from 'yaml';

export type Segment = string | number;

/** Finds the line of a path ("paths", "/users", "get") in a YAML or JSON text, for SARIF and editors. */
export interface LineIndex {
  /** 1-based line of the deepest part of the path that exists in the text (the key's line). */
  line(segments: readonly Segment[]): number | undefined;
}

const NO_LINES: LineIndex = { line: () => undefined };

/**
 * Parses the text once (JSON is YAML). A text that does not parse gives no lines: the findings stay
 * right, they only lose their line numbers.
 */
export function indexLines(text: string | undefined): LineIndex {
  if (text === undefined) return NO_LINES;
  if (text.trimStart().startsWith('{')) return indexJson(text);
  const lc = new LineCounter();
  let root: unknown;
  try {
    const doc = parseDocument(text, { lineCounter: lc, uniqueKeys: false, merge: false });
    if (doc.errors.length) return NO_LINES;
    root = doc.contents;
  } catch {
    return NO_LINES;
  }
  const lineAt = (range: readonly number[] | null | undefined): number | undefined =>
    range ? lc.linePos(range[0] as number).line : undefined;
  // Keys of each mapping, indexed on first use: thousands of findings in a big file stay cheap.
  const keysOf = new WeakMap<object, Map<string, Pair>>();
  const pairOf = (map: YAMLMap, key: string): Pair | undefined => {
    let keys = keysOf.get(map);
    if (keys === undefined) {
      keys = new Map();
      for (const p of map.items)
        if (isScalar(p.key) && !keys.has(String(p.key.value))) keys.set(String(p.key.value), p);
      keysOf.set(map, keys);
    }
    return keys.get(key);
  };
  return {
    line(segments) {
      let node = root;
      let line: number | undefined;
      for (const seg of segments) {
        if (isMap(node)) {
          const pair = pairOf(node, String(seg));
          if (pair === undefined) break;
          line = lineAt((pair.key as Node).range) ?? line;
          node = pair.value;
        } else if (isSeq(node) && typeof seg === 'number') {
          const item = node.items[seg];
          if (item === undefined) break;
          line = lineAt((item as Node).range) ?? line;
          node = item;
        } else break;
      }
      return line;
    },
  };
}

/** A JSON value and the line its key (or, in an array, the value itself) starts on. */
interface JsonNode {
  readonly line: number;
  keys?: Map<string, JsonNode>;
  items?: JsonNode[];
}

/**
 * Lines of a JSON text by a single linear scan (a general YAML parse of a 10 MB description takes
 * seconds; this takes milliseconds). Invalid JSON, or nesting too deep to follow, gives no lines.
 */
function indexJson(text: string): LineIndex {
  let i = 0;
  let line = 1;
  const ws = (): void => {
    for (; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 10) line++;
      else if (c !== 32 && c !== 9 && c !== 13) return;
    }
  };
  const str = (): string => {
    const start = i++;
    let escaped = false;
    for (; i < text.length; i++) {
      const c = text.charCodeAt(i);
      if (c === 92) {
        escaped = true;
        i++;
      } else if (c === 34) break;
    }
    i++;
    const raw = text.slice(start, i);
    return escaped ? (JSON.parse(raw) as string) : raw.slice(1, -1);
  };
  const value = (at: number, depth: number): JsonNode => {
    if (depth > 512) throw new RangeError('too deep');
    ws();
    const c = text[i];
    if (c === '{') {
      const node: JsonNode = { line: at, keys: new Map() };
      i++;
      ws();
      if (text[i] === '}') {
        i++;
        return node;
      }
      for (;;) {
        ws();
        if (text[i] !== '"') throw new SyntaxError('key expected');
        const keyLine = line;
        const key = str();
        ws();
        if (text[i++] !== ':') throw new SyntaxError('":" expected');
        const child = value(keyLine, depth + 1);
        if (!node.keys?.has(key)) node.keys?.set(key, child);
        ws();
        const next = text[i++];
        if (next === '}') return node;
        if (next !== ',') throw new SyntaxError('"," expected');
      }
    }
    if (c === '[') {
      const node: JsonNode = { line: at, items: [] };
      i++;
      ws();
      if (text[i] === ']') {
        i++;
        return node;
      }
      for (;;) {
        ws();
        node.items?.push(value(line, depth + 1));
        ws();
        const next = text[i++];
        if (next === ']') return node;
        if (next !== ',') throw new SyntaxError('"," expected');
      }
    }
    if (c === '"') {
      str();
      return { line: at };
    }
    const start = i;
    while (i < text.length && !',}] \t\r\n'.includes(text[i] as string)) i++;
    if (i === start) throw new SyntaxError('value expected');
    return { line: at };
  };
  let root: JsonNode;
  try {
    root = value(1, 0);
  } catch {
    return NO_LINES;
  }
  return {
    line(segments) {
      let node: JsonNode | undefined = root;
      let found: number | undefined;
      for (const seg of segments) {
        node =
          node.keys !== undefined
            ? node.keys.get(String(seg))
            : typeof seg === 'number'
              ? node.items?.[seg]
              : undefined;
        if (node === undefined) break;
        found = node.line;
      }
      return found;
    },
  };
}
