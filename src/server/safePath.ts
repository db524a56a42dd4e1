// Turning a request URL into path segments the static server may look up, or null for anything that could
// reach outside its folders. Refusing is decided on the URL alone, before the file system is touched:
// `..` and `.` segments, empty segments (`//etc/passwd`), encoded slashes, backslashes and NULs (which
// decode into separators on some systems), dot-files, and URLs that do not start with one `/`.
// Symlinks are the server's part: it compares real paths (staticServer.ts).

/** Characters that must never appear in a decoded segment: separators, NUL and other controls, and ':'
 * (a drive letter or an alternate data stream on Windows). */
// eslint-disable-next-line no-control-regex
const FORBIDDEN_IN_SEGMENT = /[/\\:\x00-\x1f\x7f]/;

/** Encoded forms of '/', '\' and NUL: a segment must not turn into a separator after decoding. */
const ENCODED_SEPARATOR = /%(2f|5c|00)/i;

/** The path part of a request target, split into checked, decoded segments; "/" gives ["index.html"]. */
export function requestSegments(target: string | undefined): string[] | null {
  if (target === undefined || !target.startsWith("/") || target.startsWith("//")) return null;
  const end = target.search(/[?#]/);
  const path = end < 0 ? target : target.slice(0, end);
  if (path === "/") return ["index.html"];
  if (ENCODED_SEPARATOR.test(path) || path.includes("\\")) return null;
  const segments: string[] = [];
  for (const raw of path.slice(1).split("/")) {
    let segment: string;
    try {
      segment = decodeURIComponent(raw);
    } catch {
      return null;
    }
    if (segment === "" || segment.startsWith(".") || FORBIDDEN_IN_SEGMENT.test(segment)) return null;
    segments.push(segment);
  }
  return segments;
}
