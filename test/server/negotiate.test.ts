import { describe, expect, it } from 'vitest';
import { chooseFormat, etagMatches } from '../../src/server/negotiate.js';
import { parseBatchIndex } from '../../src/server/dataset-id.js';

const ARROW = 'application/vnd.apache.arrow.stream';

describe('chooseFormat', () => {
  it.each([
    [undefined, 'arrow'],
    ['', 'arrow'],
    ['*/*', 'arrow'],
    [ARROW, 'arrow'],
    ['application/json', 'json'],
    [`${ARROW}, application/json`, 'arrow'],
    [`${ARROW};q=0.5, application/json`, 'json'],
    ['application/*', 'arrow'],
    [`application/json, ${ARROW};q=0`, 'json'],
    ['text/html, */*;q=0.1', 'arrow'],
    ['text/html', null],
    ['application/json;q=0', null],
  ] as const)('Accept %j → %s', (accept, want) => {
    expect(chooseFormat(undefined, accept)).toBe(want);
  });

  it('lets ?format override Accept', () => {
    expect(chooseFormat('json', ARROW)).toBe('json');
    expect(chooseFormat('arrow', 'application/json')).toBe('arrow');
  });
});

describe('etagMatches', () => {
  it('uses weak comparison over a list, and *', () => {
    expect(etagMatches('"a"', '"a"')).toBe(true);
    expect(etagMatches('W/"a"', '"a"')).toBe(true);
    expect(etagMatches('"b" , "a"', '"a"')).toBe(true);
    expect(etagMatches('*', '"a"')).toBe(true);
    expect(etagMatches('"b"', '"a"')).toBe(false);
    expect(etagMatches('a', '"a"')).toBe(false);
    expect(etagMatches(undefined, '"a"')).toBe(false);
  });
});

describe('parseBatchIndex', () => {
  it('accepts canonical non-negative safe integers only', () => {
    expect(parseBatchIndex('0')).toBe(0);
    expect(parseBatchIndex('1234')).toBe(1234);
    expect(parseBatchIndex('9007199254740991')).toBe(9007199254740991);
    for (const bad of ['', '-1', '01', '1.0', '1e3', ' 1', '0x10', '9007199254740993', '99999999999999999']) {
      expect(parseBatchIndex(bad), bad).toBeNull();
    }
  });
});
