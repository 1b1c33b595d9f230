import { describe, expect, it } from 'vitest';
import { progressRenderer } from '../../src/cli/progress.js';

function sink(isTTY: boolean) {
  const chunks: string[] = [];
  const stream = { isTTY, write: (s: string) => { chunks.push(s); return true; } } as unknown as NodeJS.WriteStream;
  return { stream, text: () => chunks.join('') };
}

const batch = (done: number, seconds: number) => ({
  type: 'batch' as const, done, total: 10, tokens: done * 100, totalTokens: 1000, seconds, tokensPerSec: 2500, etaSeconds: (1000 - done * 100) / 2500,
});

describe('progress on stderr', () => {
  it('redraws one bar line on a terminal, ending with a newline', () => {
    const { stream, text } = sink(true);
    const render = progressRenderer(stream);
    for (let d = 1; d <= 10; d++) render(batch(d, d));
    const out = text();
    expect(out.split('\r').length - 1).toBe(10);
    expect(out).toMatch(/\[#{24}\] 100\.0%  10\/10 batches  1\.0k\/1\.0k tokens  2\.5k tok\/s  ETA 0s/);
    expect(out.endsWith('\n')).toBe(true);
  });

  it('prints a plain line every few seconds and at the end when not a terminal', () => {
    const { stream, text } = sink(false);
    const render = progressRenderer(stream);
    render({ type: 'start', totalBatches: 10, totalTokens: 1000, resumeFromBatch: 4 });
    for (let d = 5; d <= 10; d++) render(batch(d, d * 2));
    const lines = text().trim().split('\n');
    expect(lines[0]).toBe('precompute: 10 batches, 1.0k tokens; resuming after batch 3');
    expect(lines.some((l) => l.includes('\r'))).toBe(false);
    // seconds 10,12,14,16,18,20: lines at 10 (first), 16 (>= 5 s later), and 20 (the last batch).
    expect(lines.slice(1).map((l) => l.split('%')[0])).toEqual(['50.0', '80.0', '100.0']);
  });

  it('prints nothing when quiet', () => {
    const { stream, text } = sink(true);
    progressRenderer(stream, true)(batch(1, 1));
    expect(text()).toBe('');
  });
});
