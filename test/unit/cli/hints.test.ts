/**
 * Every hint names a command that exists (issue 9, item 6). The test reads the source the way a user reads the
 * output: it collects every string literal and template under src/ (what the code can print is among them), finds
 * each `kuke …` / `kukeond …` instruction and each `--flag` named in a sentence, and checks them against the real
 * command trees: kuke's `buildProgram` and kukeond's `daemonProgram`. A hint naming a command, subcommand or flag
 * that does not exist fails here.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import type { Command } from 'commander';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { buildProgram } from '../../../src/cli/program.js';
import { daemonProgram } from '../../../src/daemon/flags.js';

const SRC = resolve(__dirname, '..', '..', '..', 'src');

/** A printable text found in the source, with where it is. */
interface Text {
  file: string;
  line: number;
  text: string;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) return name === 'gen' ? [] : sourceFiles(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

/** The literal text of a string or template (placeholders become `<x>`). */
function literalText(node: ts.Node): string | undefined {
  if (ts.isStringLiteral(node) || ts.isNoSubstitutionTemplateLiteral(node)) return node.text;
  if (ts.isTemplateExpression(node)) return node.head.text + node.templateSpans.map((s) => `<x>${s.literal.text}`).join('');
  return undefined;
}

/** Every string literal and template of a file: what the code can print is among them. */
function literals(file: string): Text[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
  const out: Text[] = [];
  const visit = (node: ts.Node) => {
    const text = literalText(node);
    if (text !== undefined) out.push({ file: relative(SRC, file), line: source.getLineAndCharacterOfPosition(node.getStart()).line + 1, text });
    ts.forEachChild(node, visit);
  };
  visit(source);
  return out;
}

/** An instruction found in a text: the program, the words after it, and the flags that follow. */
interface Mention {
  program: 'kuke' | 'kukeond';
  words: string[];
  flags: string[];
  where: string;
}

// Where an instruction starts: after `sudo`, a quote, a colon, "run"/"with"/"see"/"e.g."/"try"/"use"/"or"/"then", or
// at the start of the text; prose such as "is kukeond running?" or "kukeond holds the log" is not an instruction.
const INSTRUCTION = /(?:^|sudo |['"`(]|: |\b(?:run|with|see|e\.g\.|try|use|or|then) )(kukeond|kuke)((?: +(?:[a-z][a-z0-9-]*|--?[a-z][a-z0-9-]*|<[a-z|]+>|\[[^\]]*\])(?=$|[\s;,.)'"`:?!]))*)/g;
// Prose that names the program ("kukeond is ready…", "kukeond holds the event log"), never a subcommand of it.
const PROSE_VERBS = new Set(['is', 'holds', 'did', 'started', 'stopped', 'killed', 'restarted', 'recreated', 'cell', 'image', 'bundle', 'at', 'to', 'ready', 'draining', 'starting', 'and', 'over', 'appends', 'answers', 'writes', 'runs', 'gets', 'from', 'itself', 'using', 'run', 'works', 'work', 'talks', 'reports', 'prints', 'with', 'v']);

function mentionsIn(t: Text): Mention[] {
  const out: Mention[] = [];
  for (const m of t.text.matchAll(INSTRUCTION)) {
    const tokens = (m[2] ?? '').trim().split(/ +/).filter(Boolean);
    const words: string[] = [];
    const flags: string[] = [];
    for (const token of tokens) {
      if (token.startsWith('-')) flags.push(token);
      else if (flags.length === 0 && /^[a-z]/.test(token)) words.push(token);
    }
    if (words[0] !== undefined && PROSE_VERBS.has(words[0])) continue;
    // A text that starts with the daemon's name is a sentence about it ("kukeond rotates…"): it has no subcommands.
    if (m[1] === 'kukeond' && m.index === 0) continue;
    out.push({ program: m[1] as Mention['program'], words, flags, where: `${t.file}:${t.line}: "${t.text}"` });
  }
  return out;
}

function subcommand(command: Command, word: string): Command | undefined {
  return command.commands.find((c) => c.name() === word || c.aliases().includes(word));
}

function optionNames(command: Command): Set<string> {
  const names = new Set<string>(['--help', '-h']);
  for (let c: Command | null = command; c; c = c.parent) {
    for (const o of c.options) {
      if (o.long) names.add(o.long);
      if (o.short) names.add(o.short);
      // commander declares --no-daemon as a negation of `daemon`
      if (o.negate && o.long) names.add(o.long);
    }
  }
  return names;
}

/** What is wrong with a mention, or undefined when it names a real command and real flags. */
function problemOf(mention: Mention, kuke: Command, kukeond: Command): string | undefined {
  let command = mention.program === 'kuke' ? kuke : kukeond;
  for (const word of mention.words) {
    const next = subcommand(command, word);
    if (next) {
      command = next;
      continue;
    }
    // After a leaf command, words are its arguments (`kuke get cells`) or the sentence going on ("run kuke init
    // again"); a group (`kuke`, `kuke daemon`) takes only its subcommands.
    if (command.commands.length === 0 && command !== kukeond) break;
    return `"${mention.program} ${mention.words.join(' ')}": no command "${word}" in ${command.name()}`;
  }
  const known = optionNames(command);
  const unknown = mention.flags.map((f) => f.replace(/[=\/].*$/, '')).filter((f) => !known.has(f));
  if (unknown.length) return `"${mention.program} ${mention.words.join(' ')}": no flag ${unknown.join(', ')}`;
  return undefined;
}

/** Flags named outside an instruction ("drop --no-daemon/--run-path") must exist on some command of kuke or kukeond. */
function looseFlagProblems(t: Text, allFlags: Set<string>): string[] {
  // A single token ('--root') is an argument kukeon passes to another program; a sentence is what a user reads.
  if (!/\s/.test(t.text.trim())) return [];
  const withoutInstructions = t.text.replace(INSTRUCTION, '');
  return [...withoutInstructions.matchAll(/(?:^|[\s(/'"`])(--[a-z][a-z0-9-]*)/g)].map((m) => m[1]!).filter((f) => !allFlags.has(f)).map((f) => `no command has the flag ${f}`);
}

function everyFlag(command: Command): Set<string> {
  const out = new Set<string>(['--help']);
  const walk = (c: Command) => {
    for (const o of c.options) if (o.long) out.add(o.long);
    c.commands.forEach(walk);
  };
  walk(command);
  return out;
}

function trees() {
  const { program } = buildProgram({ out: () => undefined, err: () => undefined }, { daemon: async () => undefined as never, inProcess: async () => undefined as never }, {});
  return { kuke: program, kukeond: daemonProgram() };
}

/** Every problem found in the source, as `file:line: "text" → problem`. */
function hintProblems(texts: Text[]): string[] {
  const { kuke, kukeond } = trees();
  const allFlags = new Set([...everyFlag(kuke), ...everyFlag(kukeond)]);
  const problems: string[] = [];
  for (const t of texts) {
    for (const mention of mentionsIn(t)) {
      const problem = problemOf(mention, kuke, kukeond);
      if (problem) problems.push(`${mention.where} → ${problem}`);
    }
    for (const problem of looseFlagProblems(t, allFlags)) problems.push(`${t.file}:${t.line}: "${t.text}" → ${problem}`);
  }
  return problems;
}

describe('hints name commands that exist', () => {
  const texts = sourceFiles(SRC).flatMap(literals);

  it('finds the hints it is meant to check (the scanner is not blind)', () => {
    const mentions = texts.flatMap(mentionsIn).map((m) => `${m.program} ${m.words.join(' ')}`);
    for (const expected of ['kuke init', 'kuke daemon stop', 'kuke daemon logs', 'kuke history verify', 'kuke get cells']) expect(mentions).toContain(expected);
    expect(texts.length).toBeGreaterThan(100);
  });

  it('flags a hint naming a missing command, subcommand or flag (the checker is not lenient)', () => {
    const fake = (text: string): Text => ({ file: 'fake.ts', line: 1, text });
    expect(hintProblems([fake("run 'kukeond repair' to salvage it")])).toHaveLength(1);
    expect(hintProblems([fake('reopen with --accept-recovered')])).toHaveLength(1);
    expect(hintProblems([fake('stop it first: sudo kuke daemon halt')])).toHaveLength(1);
    expect(hintProblems([fake('list them with: kuke get cells --colour')])).toHaveLength(1);
    expect(hintProblems([fake('list cells with: kuke get cells --realm default'), fake('is kukeond running? start it with: sudo kuke daemon start')])).toEqual([]);
  });

  it('every kuke/kukeond command and flag named in an error, hint or message exists', () => {
    expect(hintProblems(texts)).toEqual([]);
  });
});
