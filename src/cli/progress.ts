// Renders precompute progress on stderr: a redrawn bar on a terminal, a line every few
// seconds otherwise (CI logs, pipes). stdout stays machine-readable.
import type { ProgressEvent } from '../precompute/index.js';

const fmt = (n: number) => (n >= 1e6 ? `${(n / 1e6).toFixed(2)}M` : n >= 1e3 ? `${(n / 1e3).toFixed(1)}k` : String(Math.round(n)));
const time = (s: number | null) => (s === null || !Number.isFinite(s) ? '?' : s >= 3600 ? `${(s / 3600).toFixed(1)}h` : s >= 60 ? `${Math.floor(s / 60)}m${Math.round(s % 60)}s` : `${s.toFixed(0)}s`);

export function progressRenderer(stream: NodeJS.WriteStream = process.stderr, quiet = false): (e: ProgressEvent) => void {
  const tty = stream.isTTY === true;
  let lastLine = 0;
  return (e) => {
    if (quiet) return;
    if (e.type === 'scan') stream.write(`scanning dataset: ${fmt(e.samples)} samples, ${fmt(e.tokens)} tokens\n`);
    else if (e.type === 'start') {
      stream.write(`precompute: ${e.totalBatches} batches, ${fmt(e.totalTokens)} tokens${e.resumeFromBatch ? `; resuming after batch ${e.resumeFromBatch - 1}` : ''}\n`);
    } else if (e.type === 'batch') {
      const frac = e.totalTokens ? e.tokens / e.totalTokens : 1;
      const text = `${e.done}/${e.total} batches  ${fmt(e.tokens)}/${fmt(e.totalTokens)} tokens  ${fmt(e.tokensPerSec)} tok/s  ETA ${time(e.etaSeconds)}`;
      if (tty) {
        const width = 24;
        const filled = Math.round(frac * width);
        stream.write(`\r[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${(frac * 100).toFixed(1)}%  ${text}\x1b[K`);
        if (e.done === e.total) stream.write('\n');
      } else if (e.seconds - lastLine >= 5 || e.done === e.total) {
        lastLine = e.seconds;
        stream.write(`${(frac * 100).toFixed(1)}%  ${text}\n`);
      }
    }
  };
}
