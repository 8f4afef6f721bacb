/**
 * Image references, checked against the grammar of the Docker/OCI distribution reference (the `reference` package
 * of distribution, used by containerd, Docker and Podman) when a cell is created or applied, so that a reference no
 * registry or image store could hold is refused with its reason before anything is recorded:
 *
 *   reference        := name [ ":" tag ] [ "@" digest ]
 *   name             := [ domain "/" ] path-component [ "/" path-component ]*
 *   domain           := host [ ":" port ]          host: domain-name | "[" IPv6 "]"
 *   domain-component := [a-zA-Z0-9] | [a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9]
 *   path-component   := [a-z0-9]+ ( separator [a-z0-9]+ )*      separator: "." | "_" | "__" | "-"+
 *   tag              := [A-Za-z0-9_][A-Za-z0-9_.-]{0,127}
 *   digest           := algorithm ":" hex          (sha256: 64, sha384: 96, sha512: 128 lower-case hex digits)
 *
 * The first component is the registry only when it looks like a host (has a "." or a ":", or is `localhost`, or
 * has upper case), as `docker pull` decides; the path is at most 255 characters. No name is expanded here: the
 * reference is kept exactly as written (`busybox` stays `busybox`).
 *
 * @example
 * parseImageRef('localhost:5000/a/b:1.0'); // { domain: 'localhost:5000', path: 'a/b', tag: '1.0' }
 * imageRefProblem('busybox:test;rm -rf /'); // 'contains whitespace or a control character'
 */
import { ErrorKind, KukeError } from '../errors.js';

/** The parts of a reference. */
export interface ImageRef {
  /** Registry host and port, when the reference names one. */
  domain?: string;
  /** Repository path (`library/nginx`). */
  path: string;
  tag?: string;
  /** `algorithm:hex`. */
  digest?: string;
}

/** What the error line suggests. */
export const IMAGE_REF_HINT = 'use name[:tag][@digest], e.g. docker.io/library/nginx:1.27';

/** distribution's RepositoryNameTotalLengthMax. */
const MAX_PATH_LENGTH = 255;
/** Longer input is not looked at further (a reference is a few dozen characters). */
const MAX_REFERENCE_LENGTH = 4096;

const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const HOST = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[a-fA-F0-9:]+\\])$`);
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*$/;
const TAG = /^\w[\w.-]{0,127}$/;
const DIGEST = /^([A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*):([0-9a-fA-F]{32,})$/;
/** Digest algorithms an image store accepts, and their lengths in hex digits (OCI image-spec, go-digest). */
const DIGEST_HEX_LENGTH: Record<string, number> = { sha256: 64, sha384: 96, sha512: 128 };

type Parsed = { ref: ImageRef } | { problem: string };

function shown(text: string): string {
  return JSON.stringify(text.length > 80 ? `${text.slice(0, 80)}…` : text);
}

/** Why `digest` is not one an image store accepts, or undefined. */
function digestProblem(digest: string): string | undefined {
  const m = DIGEST.exec(digest);
  if (!m) return `invalid digest ${shown(digest)}: expected algorithm:hex, e.g. sha256:<64 hex digits>`;
  const algorithm = m[1]!;
  const hex = m[2]!;
  const length = DIGEST_HEX_LENGTH[algorithm];
  if (length === undefined) return `unsupported digest algorithm ${shown(algorithm)} (use ${Object.keys(DIGEST_HEX_LENGTH).join(', ')})`;
  if (hex.length !== length || !/^[a-f0-9]+$/.test(hex)) return `a ${algorithm} digest has ${length} lower-case hex digits`;
  return undefined;
}

/** Why `domain` (`host[:port]`, the host possibly a bracketed IPv6 address) is not a registry, or undefined. */
function domainProblem(domain: string): string | undefined {
  let host = domain;
  let port: string | undefined;
  const split = domain.startsWith('[') ? domain.indexOf(']') + 1 : domain.lastIndexOf(':');
  if (split > 0 && split < domain.length) {
    host = domain.slice(0, split);
    const rest = domain.slice(split);
    if (!rest.startsWith(':')) return `invalid registry host ${shown(domain)}`;
    port = rest.slice(1);
  }
  if (!HOST.test(host)) return `invalid registry host ${shown(host)}`;
  if (port !== undefined) {
    if (!/^[0-9]{1,5}$/.test(port)) return `invalid registry port ${shown(port)}`;
    if (Number(port) < 1 || Number(port) > 65535) return `registry port ${port} is out of range (1-65535)`;
  }
  return undefined;
}

function parse(reference: string): Parsed {
  if (reference === '') return { problem: 'is empty' };
  if (reference.length > MAX_REFERENCE_LENGTH) return { problem: `is longer than ${MAX_REFERENCE_LENGTH} characters` };
  if (/[\s\x00-\x1f\x7f]/.test(reference)) return { problem: 'contains whitespace or a control character' };
  const at = reference.indexOf('@');
  if (at >= 0 && reference.indexOf('@', at + 1) >= 0) return { problem: 'has more than one "@"' };
  let rest = at >= 0 ? reference.slice(0, at) : reference;
  const digest = at >= 0 ? reference.slice(at + 1) : undefined;
  if (digest !== undefined) {
    const problem = digestProblem(digest);
    if (problem) return { problem };
  }
  let tag: string | undefined;
  const colon = rest.lastIndexOf(':');
  if (colon > rest.lastIndexOf('/') && !rest.slice(colon).includes(']')) {
    // After the last "/", a ":" starts the tag (before it, it is a registry port); "[::1]" alone has no tag.
    tag = rest.slice(colon + 1);
    rest = rest.slice(0, colon);
    if (tag === '') return { problem: 'has an empty tag (nothing after ":")' };
    if (!TAG.test(tag)) return { problem: `invalid tag ${shown(tag)}: a tag is letters, digits, "_", "." and "-", at most 128, not starting with "." or "-"` };
  }
  if (rest === '') return { problem: 'has no repository name' };
  const components = rest.split('/');
  if (components.some((c) => c === '.' || c === '..')) return { problem: 'path components "." and ".." are not allowed' };
  let domain: string | undefined;
  const first = components[0]!;
  if (components.length > 1 && (/[.:]/.test(first) || first === 'localhost' || first !== first.toLowerCase())) {
    domain = first;
    components.shift();
    const problem = domainProblem(domain);
    if (problem) return { problem };
  }
  for (const component of components) {
    if (component === '') return { problem: 'has an empty path component ("//" or a trailing "/")' };
    if (!PATH_COMPONENT.test(component)) {
      if (PATH_COMPONENT.test(component.toLowerCase())) return { problem: 'repository name must be lowercase' };
      return { problem: `invalid path component ${shown(component)}: lowercase letters and digits, separated by ".", "_", "__" or "-"` };
    }
  }
  const path = components.join('/');
  if (path.length > MAX_PATH_LENGTH) return { problem: `repository name is longer than ${MAX_PATH_LENGTH} characters` };
  return { ref: { ...(domain !== undefined ? { domain } : {}), path, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) } };
}

/**
 * Why `reference` is not a valid image reference (`repository name must be lowercase`), or `undefined` if it is
 * one.
 */
export function imageRefProblem(reference: string): string | undefined {
  const parsed = parse(reference);
  return 'problem' in parsed ? parsed.problem : undefined;
}

/** The one message for a bad reference: `invalid image reference "…": <why>; use name[:tag][@digest], e.g. …`. */
export function imageRefMessage(reference: string, problem: string): string {
  return `invalid image reference ${shown(reference)}: ${problem}; ${IMAGE_REF_HINT}`;
}

/** Parses a reference into its parts; throws InvalidArgument naming what is wrong. */
export function parseImageRef(reference: string): ImageRef {
  const parsed = parse(reference);
  if ('problem' in parsed) throw new KukeError(ErrorKind.InvalidArgument, imageRefMessage(reference, parsed.problem));
  return parsed.ref;
}
