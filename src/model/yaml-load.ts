/**
 * Loading untrusted YAML (a manifest handed to `kuke apply`, parsed inside kukeond) into plain data, refusing what
 * could hurt the daemon or mean something else than plain data, each with one line that says what to do:
 *
 * - more than MAX_MANIFEST_BYTES, MAX_YAML_VALUES or MAX_DOCUMENTS (./limits.ts);
 * - nesting deeper than MAX_YAML_DEPTH; alias expansion beyond MAX_YAML_ALIAS_EXPANSION ("billion laughs");
 * - tags other than the core ones (`!!js/function`, `!custom`) and directives (`%YAML 1.1` would switch on merge
 *   keys and other types, `%TAG` would rename tags);
 * - complex keys (`? `), keys that are not strings, duplicate keys.
 *
 * A cheap pass over the lexer's tokens runs first and stops at the first problem: the `yaml` parser itself takes
 * time exponential in the depth of nested `? ` keys (1,000 of them never finish) and much memory for very deep
 * block sequences, so such input must never reach it. Duplicate keys are found here with a set, because the
 * package's own check is quadratic in the number of keys of a map.
 */
import { CST, Composer, isAlias, isMap, isPair, isScalar, isSeq, Lexer, Parser, type Document, type Node } from 'yaml';
import { ErrorKind, KukeError } from '../errors.js';
import { quote } from './issues.js';
import { checkManifestSize, MAX_DOCUMENTS, MAX_YAML_ALIAS_EXPANSION, MAX_YAML_DEPTH, MAX_YAML_VALUES, utf8Bytes } from './limits.js';

/** One loaded document: its 1-based position in the stream and its value (null for an empty document). */
export interface LoadedDocument {
  index: number;
  value: unknown;
}

/** Tags that only say what plain YAML already says (a string, a number, …). */
const CORE_TAGS = new Set(['!!str', '!!int', '!!float', '!!bool', '!!null', '!!map', '!!seq']);

const NOTHING_CHANGED = 'nothing was changed';

function refuse(message: string): never {
  throw new KukeError(ErrorKind.InvalidArgument, message, { hint: NOTHING_CHANGED });
}

function lineOf(text: string, offset: number): number {
  let line = 1;
  for (let i = text.indexOf('\n'); i >= 0 && i < offset; i = text.indexOf('\n', i + 1)) line++;
  return line;
}

/** The lexer pass: limits that must hold before the parser sees the text. */
function screen(text: string): void {
  let offset = 0;
  let documents = 0;
  let values = 0;
  let flowDepth = 0;
  let lineIndicators = 0;
  let afterScalarMark = false;
  const at = () => `manifest line ${lineOf(text, offset)}`;
  for (const token of new Lexer().lex(text)) {
    // The lexer marks a scalar with a control character, then yields its source (which may look like anything).
    if (afterScalarMark) {
      afterScalarMark = false;
      offset += token.length;
      continue;
    }
    switch (CST.tokenType(token)) {
      case 'scalar':
        afterScalarMark = true;
        if (++values > MAX_YAML_VALUES) refuse(`the manifest has more than ${MAX_YAML_VALUES} values (the limit); split it into several files`);
        continue;
      case 'doc-mode':
      case 'flow-error-end':
        continue;
      case 'doc-start':
        if (++documents > MAX_DOCUMENTS) refuse(`the manifest has more than ${MAX_DOCUMENTS} documents (the limit); split it into several files`);
        break;
      case 'directive-line':
        refuse(`${at()}: YAML directives such as ${quote(token.split(/\s/)[0]!)} are not supported; remove the line (manifests are YAML 1.2)`);
        break;
      case 'tag':
        if (!CORE_TAGS.has(token)) refuse(`${at()}: the YAML tag ${quote(token)} is not allowed (manifests are plain data); remove it`);
        break;
      case 'explicit-key-ind':
        refuse(`${at()}: complex mapping keys ("? ") are not allowed; keys are plain strings`);
        break;
      case 'flow-map-start':
      case 'flow-seq-start':
        flowDepth++;
        break;
      case 'flow-map-end':
      case 'flow-seq-end':
        flowDepth = Math.max(0, flowDepth - 1);
        break;
      case 'seq-item-ind':
      case 'map-value-ind':
        if (flowDepth === 0) lineIndicators++;
        break;
      case 'newline':
        lineIndicators = 0;
        break;
    }
    if (flowDepth + lineIndicators > MAX_YAML_DEPTH) refuse(`${at()}: YAML nested more than ${MAX_YAML_DEPTH} levels deep; a manifest needs far fewer`);
    offset += token.length;
  }
}

/** The composed document's checks: depth, keys. Iterative, so hostile depth cannot overflow the stack. */
function inspect(text: string, doc: Document.Parsed, index: number): void {
  const where = (node: { range?: [number, number, number] | null } | null | undefined) =>
    `document ${index}${node?.range ? `: line ${lineOf(text, node.range[0])}` : ''}`;
  const stack: { node: unknown; depth: number }[] = [{ node: doc.contents, depth: 1 }];
  while (stack.length > 0) {
    const { node, depth } = stack.pop()!;
    if (isMap(node) || isSeq(node)) {
      if (depth > MAX_YAML_DEPTH) refuse(`${where(node)}: YAML nested more than ${MAX_YAML_DEPTH} levels deep; a manifest needs far fewer`);
    }
    if (isMap(node)) {
      const seen = new Set<string>();
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        const key = pair.key as Node | null;
        if (!isScalar(key) || typeof key.value !== 'string') {
          const shown = isScalar(key) ? ` (found ${JSON.stringify(key.value) ?? String(key.value)})` : '';
          refuse(`${where(key ?? node)}: mapping keys must be strings${shown}; quote the key or remove it`);
        }
        const name = key.value as string;
        if (seen.has(name)) refuse(`${where(key)}: duplicate key ${quote(name)}; keep one of them`);
        seen.add(name);
        stack.push({ node: pair.value, depth: depth + 1 });
      }
    } else if (isSeq(node)) {
      for (const item of node.items) stack.push({ node: item, depth: depth + 1 });
    } else if (isAlias(node) || isScalar(node) || node === null || node === undefined) {
      // Aliases are bounded at toJS; scalars are leaves.
    }
  }
}

/**
 * Loads every document of a YAML stream as plain data. Throws InvalidArgument (`document 2: line 7: duplicate key
 * "image"; keep one of them`) on the first problem, before returning anything.
 *
 * @example
 * for (const { index, value } of loadYamlDocuments(text)) if (value !== null) check(index, value);
 */
export function loadYamlDocuments(text: string): LoadedDocument[] {
  checkManifestSize(utf8Bytes(text));
  screen(text);
  const composer = new Composer({ uniqueKeys: false, version: '1.2', schema: 'core', merge: false, prettyErrors: false, strict: true });
  const docs = [...composer.compose(new Parser().parse(text))];
  const out: LoadedDocument[] = [];
  for (const [i, doc] of docs.entries()) {
    const index = i + 1;
    const problem = doc.errors[0] ?? doc.warnings[0];
    if (problem) {
      const line = problem.linePos?.[0]?.line ?? lineOf(text, problem.pos[0]);
      const what = problem.code === 'RESOURCE_EXHAUSTION' ? 'the YAML is too deeply nested' : problem.message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
      refuse(`document ${index}: invalid YAML at line ${line}: ${what}; fix the YAML (indentation, quoting) and apply again`);
    }
    inspect(text, doc, index);
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: MAX_YAML_ALIAS_EXPANSION });
    } catch (err) {
      if (err instanceof ReferenceError && /alias/i.test(err.message)) {
        refuse(`document ${index}: YAML aliases expand to more than ${MAX_YAML_ALIAS_EXPANSION} nodes (an alias bomb?); write the values out`);
      }
      refuse(`document ${index}: the YAML could not be loaded (${(err as Error).message.split('\n')[0]}); fix it and apply again`);
    }
    out.push({ index, value: value ?? null });
  }
  return out;
}
