// Identifiers for a whitelist or blacklist from pasted text or a CSV file: the first column of
// each line, quotes removed, blank lines and a header line ("email", "identifier", …) dropped,
// duplicates once. The server normalises and checks each one when the flow is saved.

const HEADERS = new Set(['email', 'phone', 'identifier', 'identifiers', 'user_id', 'user', 'id']);

export function parseIdentifiers(text: string): string[] {
  const out: string[] = [];
  const seen = new Set<string>();
  for (const raw of text.split(/\r?\n/)) {
    let first = raw.split(/[,;\t]/)[0]?.trim() ?? '';
    if (first.startsWith('"') && first.endsWith('"') && first.length >= 2) {
      first = first.slice(1, -1).replace(/""/g, '"').trim();
    }
    if (!first || HEADERS.has(first.toLowerCase()) || seen.has(first)) continue;
    seen.add(first);
    out.push(first);
  }
  return out;
}
