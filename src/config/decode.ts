// A config file's bytes to text (split out of load.ts, issue 12).

/**
 * The file's text. YAML 1.2 (5.2) allows UTF-8, UTF-16 and UTF-32, told apart by a byte order mark or by
 * where the NUL bytes of the first character are: UTF-16 is read, UTF-32 (which Node cannot decode) and
 * bytes that are not valid UTF-8 are refused with the place of the first bad byte, instead of being read
 * as replacement characters.
 */
export function decode(b: Buffer): { text: string } | { problem: { line?: number; col?: number; message: string; hint: string } } {
  const saveAsUtf8 = "save the file as UTF-8 (any editor can; `iconv -t UTF-8` does too)";
  if ((b[0] === 0 && b[1] === 0) || (b.length >= 4 && b[2] === 0 && b[3] === 0 && (b[1] === 0 || (b[0] === 0xff && b[1] === 0xfe)))) {
    return { problem: { message: "is UTF-32, which homelab does not read", hint: saveAsUtf8 } };
  }
  if ((b[0] === 0xfe && b[1] === 0xff) || (b[0] === 0 && b.length > 1)) return { text: new TextDecoder("utf-16be").decode(b) };
  if ((b[0] === 0xff && b[1] === 0xfe) || (b.length > 1 && b[1] === 0)) return { text: new TextDecoder("utf-16le").decode(b) };
  const bad = firstInvalidUtf8(b);
  if (bad === undefined) return { text: b.toString("utf8") };
  const before = b.subarray(0, bad);
  const lineStart = before.lastIndexOf(0x0a) + 1;
  return {
    problem: {
      line: before.filter((x) => x === 0x0a).length + 1,
      col: before.subarray(lineStart).toString("utf8").length + 1,
      message: `is not UTF-8: byte 0x${b[bad]!.toString(16).padStart(2, "0")} here does not belong to a UTF-8 character`,
      hint: `${saveAsUtf8}; Latin-1 or Windows-1252 text looks like this`,
    },
  };
}

/** The offset of the first byte that is not part of a well-formed UTF-8 sequence (RFC 3629), or undefined. */
function firstInvalidUtf8(b: Buffer): number | undefined {
  for (let i = 0; i < b.length; ) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    const n = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : -1;
    if (n < 0) return i;
    const c1 = b[i + 1];
    if (c1 === undefined) return i;
    // The second byte's range excludes overlong forms, surrogates and code points past U+10FFFF.
    const lo = c === 0xe0 ? 0xa0 : c === 0xf0 ? 0x90 : 0x80;
    const hi = c === 0xed ? 0x9f : c === 0xf4 ? 0x8f : 0xbf;
    if (c1 < lo || c1 > hi) return i;
    for (let k = 2; k <= n; k++) {
      const ck = b[i + k];
      if (ck === undefined || ck < 0x80 || ck > 0xbf) return i;
    }
    i += n + 1;
  }
  return undefined;
}
