// Runs `serve` as its own process for test/server/serve-command.test.ts.
import { serveCommand } from '../../src/cli/serve.js';

process.exitCode = await serveCommand(process.argv.slice(2));
