// Admin settings helpers.

/** "0.36" or "0,36" -> 0.36; null unless it is a number in [0, 1]. */
export function parseThreshold(s: string): number | null {
  const t = s.trim().replace(',', '.');
  if (!/^\d*\.?\d+$|^\d+\.$/.test(t)) return null;
  const n = Number(t);
  return Number.isFinite(n) && n >= 0 && n <= 1 ? n : null;
}
