// Headless Debian chromium driven by playwright-core, for the inspector's browser tests.
// Tests skip, with the reason printed, only where no chromium can be found
// (scripts/setup-system.sh installs it where apt-get and root are available).
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type BrowserContext, chromium } from 'playwright-core';

const CANDIDATES = [process.env.LOGIT_CACHE_CHROMIUM, '/usr/bin/chromium', '/usr/bin/chromium-browser'].filter((p): p is string => !!p);

export function findChromium(): { path: string | null; reason: string } {
  const path = CANDIDATES.find((p) => existsSync(p)) ?? null;
  return path ? { path, reason: '' } : { path: null, reason: `no chromium at ${CANDIDATES.join(', ')} (run scripts/setup-system.sh as root, or set LOGIT_CACHE_CHROMIUM)` };
}

export const CHROMIUM_ARGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

/** A fresh profile each time, so no cache or storage carries over between runs. */
export async function launch(executablePath: string, headers: Record<string, string> = {}): Promise<BrowserContext> {
  const profile = mkdtempSync(join(tmpdir(), 'lc-chromium-'));
  return chromium.launchPersistentContext(profile, {
    executablePath, args: CHROMIUM_ARGS, headless: true, extraHTTPHeaders: headers,
    viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1,
  });
}
