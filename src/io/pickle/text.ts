/** Byte and text decoding helpers shared by the pickle reader, the rebuilders and the writer. */

export function latin1(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 8192) {
    s += String.fromCharCode(...bytes.subarray(i, i + 8192));
  }
  return s;
}

/** An int as a JS number when exact, else a bigint. */
export function pyInt(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

/** Decodes pickle's LONG1/LONG4 payload: little-endian two's complement. */
export function decodeLong(bytes: Uint8Array): number | bigint {
  if (bytes.length === 0) return 0;
  // Through a hex string: linear time, where shifting byte by byte is quadratic for huge LONG4s.
  const hex = Buffer.from(bytes).reverse().toString('hex');
  let v = BigInt(`0x${hex}`);
  if (bytes[bytes.length - 1] & 0x80) v -= 1n << BigInt(8 * bytes.length);
  return pyInt(v);
}

/**
 * Parses a pickle (as written by `torch.save` or `pickle.dumps`) into a PyValue without executing
 * anything. Throws CheckpointError for a forbidden global, a corrupt or truncated stream, or an object

/** Python's raw-unicode-escape: only \uXXXX and \UXXXXXXXX are escapes; other chars are latin-1. */
export function decodeRawUnicodeEscape(text: string): string {
  return text.replace(
    /\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g,
    (_, u4: string | undefined, u8: string | undefined) =>
      String.fromCodePoint(parseInt((u4 ?? u8) as string, 16)),
  );
}
