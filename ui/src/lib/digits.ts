// What people type for digits: ASCII, full-width (１２３), Arabic-Indic (١٢٣), Devanagari (१२३)…

const ND = /\p{Nd}/u;
const zeroOf = new Map<number, number>();

/**
 * The value 0–9 of a Unicode decimal digit (General_Category Nd). Unicode assigns these only in
 * contiguous runs of ten, 0 to 9, so the value is the distance from the start of the run.
 */
function digitValue(cp: number): number {
  let zero = zeroOf.get(cp);
  if (zero === undefined) {
    let start = cp;
    while (start > 0 && ND.test(String.fromCodePoint(start - 1))) start--;
    zero = cp - ((cp - start) % 10);
    zeroOf.set(cp, zero);
  }
  return cp - zero;
}

/**
 * NFKC (full-width "１２３" and "＋" become "123" and "+"), then every other decimal digit in
 * any script becomes its ASCII digit. Everything else is left as it is.
 */
export function toAsciiDigits(text: string): string {
  return text.normalize('NFKC').replace(/\p{Nd}/gu, (d) => {
    const cp = d.codePointAt(0)!;
    return cp >= 0x30 && cp <= 0x39 ? d : String(digitValue(cp));
  });
}
