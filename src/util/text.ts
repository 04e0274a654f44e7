// Values from the command line, files and the registry end up in messages: a
// newline or a terminal escape in one must not split the message or reach the
// terminal as a control sequence.

/** Control characters (C0, DEL, C1, U+2028/2029) written as escapes: "a\nb" → "a\\nb". */
export function escapeControl(s: string): string {
  // The test is a fast path: most messages carry none.
  if (!/[\x00-\x1f\x7f-\x9f\u2028\u2029]/.test(s)) return s;
  return s.replace(/[\x00-\x1f\x7f-\x9f\u2028\u2029]/g, (c) => {
    const named: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };
    const code = c.charCodeAt(0);
    return named[c] ?? (code > 0xff ? `\\u${code.toString(16).padStart(4, "0")}` : `\\x${code.toString(16).padStart(2, "0")}`);
  });
}

/** Whether a value holds a control character (never valid in a hostname or a domain name). */
export function hasControl(s: string): boolean {
  return /[\x00-\x1f\x7f-\x9f\u2028\u2029]/.test(s);
}
