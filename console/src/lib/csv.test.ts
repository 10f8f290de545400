import { describe, expect, it } from 'vitest';
import { parseIdentifiers } from './csv';

describe('parseIdentifiers', () => {
  it('takes the first column, drops a header, blanks and repeats', () => {
    const csv = 'email,name\r\n"ana@example.org",Ana\n\nbo@example.org;Bo\n+34600111222\tx\nana@example.org\n';
    expect(parseIdentifiers(csv)).toEqual(['ana@example.org', 'bo@example.org', '+34600111222']);
  });
  it('reads one identifier a line as typed', () => {
    expect(parseIdentifiers(' user-1 \nuser-2')).toEqual(['user-1', 'user-2']);
  });
});
