// Bytes that aren't UTF-8 (in argv, the environment, paths) carried through strings,
// as Python's "surrogateescape" does: an invalid byte 0xXY becomes the lone surrogate
// U+DCXY when decoded and that byte again when encoded, so a value reaches the
// kernel byte for byte whatever it passed through.

/** A lone U+DC80–U+DCFF, i.e. an escaped byte (not the low half of a surrogate pair). */
const ESCAPED = /(?<![\uD800-\uDBFF])[\uDC80-\uDCFF]/;

export function hasEscapes(s: string): boolean {
  return ESCAPED.test(s);
}

/** The length of a valid UTF-8 sequence starting at `i`, or 0. */
function sequence(b: Uint8Array, i: number): number {
  const c = b[i]!;
  if (c < 0x80) return 1;
  const n = c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
  if (!n || i + n > b.length) return 0;
  for (let k = 1; k < n; k++) if ((b[i + k]! & 0xc0) !== 0x80) return 0;
  const c1 = b[i + 1]!;
  // Overlong forms, UTF-16 surrogates and code points past U+10FFFF are not UTF-8.
  if (c === 0xe0 && c1 < 0xa0) return 0;
  if (c === 0xed && c1 >= 0xa0) return 0;
  if (c === 0xf0 && c1 < 0x90) return 0;
  if (c === 0xf4 && c1 >= 0x90) return 0;
  return n;
}

export function decodeEscaped(b: Uint8Array): string {
  let out = "";
  let start = 0;
  const decoder = new TextDecoder();
  for (let i = 0; i < b.length; ) {
    const n = sequence(b, i);
    if (n) {
      i += n;
      continue;
    }
    out += decoder.decode(b.subarray(start, i)) + String.fromCharCode(0xdc00 + b[i]!);
    i++;
    start = i;
  }
  return out + decoder.decode(b.subarray(start));
}

const encoder = new TextEncoder();

export function encodeEscaped(s: string): Uint8Array {
  if (!hasEscapes(s)) return encoder.encode(s);
  const parts: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const u = s.charCodeAt(i);
    const paired = u >= 0xdc00 && u <= 0xdfff && i > 0 && s.charCodeAt(i - 1) >= 0xd800 && s.charCodeAt(i - 1) <= 0xdbff;
    if (u >= 0xdc80 && u <= 0xdcff && !paired) {
      parts.push(u - 0xdc00);
      continue;
    }
    // Everything else as UTF-8, a surrogate pair as one code point.
    const cp = s.codePointAt(i)!;
    if (cp > 0xffff) i++;
    for (const byte of encoder.encode(String.fromCodePoint(cp))) parts.push(byte);
  }
  return Uint8Array.from(parts);
}

/** NUL-separated entries (/proc/PID/cmdline, /proc/PID/environ), each decoded keeping its bytes. */
export function nulEntries(raw: Uint8Array): string[] {
  const out: string[] = [];
  for (let start = 0; start < raw.length; ) {
    let stop = raw.indexOf(0, start);
    if (stop === -1) stop = raw.length;
    out.push(decodeEscaped(raw.subarray(start, stop)));
    start = stop + 1;
  }
  return out;
}
