// `npm run build` step after tsc: replaces dist/cli/precompute-logits.js with an esbuild bundle
// of the command and its teacher worker (dist/cli/teacher-worker.js), code-split so every
// lazily imported stage stays lazy (dist/cli/lazy-*.js).
//
// Why: a precompute's start-up is on the critical path of every run, and Node's ES module
// loader pays per file. Unbundled, the main thread spent ~0.5 s of CPU resolving, reading and
// linking the ~400 modules of apache-arrow, ajv and the project before the first teacher call
// (measured with LOGIT_CACHE_TRACE=1; bench/precompute.ts), on a 2-core machine where that CPU
// is taken from ONNX Runtime's threads. One file per chunk loads the same code in a fraction.
//
// The bundle lives in dist/cli beside the tsc output on purpose: code that locates files from
// import.meta.url (the worker next to remote-session, schemas/ two levels up) finds them at
// the same relative paths. Native addons stay external (they load their .node files).
//
// The teacher worker is bundled a second time as one CommonJS file (dist/cli/teacher-worker.cjs),
// which worker-start.ts prefers: a worker thread loading onnxruntime-node through require()
// spends ~20-25 ms less CPU than through the ES module loader (measured: 90-105 against
// 115-128 ms), and that load is on the critical path of every start-up. The graph code a
// session needs only when it prepares a model itself (prepare-model.ts and the head surgery
// and wire-format walkers behind it; the precompute's main thread prepares the worker's) goes
// to a file of its own, dist/cli/teacher-prepare.cjs, which the worker loads only then: it
// was a quarter of the worker's bundle, parsed on that critical path for nothing.
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { build, type BuildOptions, type Plugin } from 'esbuild';
import { writeManifestValidator } from './standalone-validators.js';

const pkg = fileURLToPath(new URL('../../', import.meta.url));
const dest = join(pkg, 'dist/cli');
const out = join(pkg, `dist/.cli-bundle.${process.pid}.new`);
const LAZY = 'lazy-';
const PREPARE_CJS = 'teacher-prepare.cjs';
const EXTERNAL = ['onnxruntime-node', 'lz4-napi', 'zstd-napi', 'ajv', 'ajv/*', '@huggingface/tokenizers'];

rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  // precompute-entry.ts becomes precompute-logits.js: it starts the teacher worker, then loads the command.
  entryPoints: [{ in: join(pkg, 'src/cli/precompute-entry.ts'), out: 'precompute-logits' }, join(pkg, 'src/teacher/teacher-worker.ts')],
  outdir: out,
  entryNames: '[name]',
  chunkNames: `${LAZY}[name]-[hash]`,
  bundle: true, splitting: true, format: 'esm', platform: 'node', target: ['node20'],
  sourcemap: true, legalComments: 'none', logLevel: 'warning',
  external: EXTERNAL,
  // CommonJS packages inside the bundle (onnx-proto, protobufjs) call require() for Node built-ins.
  banner: { js: "import { createRequire as __lcCreateRequire } from 'node:module'; const require = __lcCreateRequire(import.meta.url);" },
});
const cjs: BuildOptions = {
  bundle: true, format: 'cjs', platform: 'node', target: ['node20'],
  sourcemap: true, legalComments: 'none', logLevel: 'warning',
  // import.meta does not exist in CommonJS: the file's own URL stands in for it.
  define: { 'import.meta.url': '__lcImportMetaUrl' },
  banner: { js: "const __lcImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
};
await build({
  ...cjs,
  entryPoints: [join(pkg, 'src/teacher/teacher-worker.ts')],
  outfile: join(out, 'teacher-worker.cjs'),
  // onnxruntime-node's JavaScript (and onnxruntime-common's, ~20 small files) goes into this
  // one file: the worker spent ~20 ms of CPU resolving, reading and compiling them on the
  // critical path of start-up. Only its native binding stays a file (ortNativeBinding).
  external: EXTERNAL.filter((e) => e !== 'onnxruntime-node'),
  plugins: [ortNativeBinding(), lazyPrepare()],
});
await build({ ...cjs, entryPoints: [join(pkg, 'src/teacher/prepare-model.ts')], outfile: join(out, PREPARE_CJS), external: EXTERNAL });
if (!['teacher-worker.cjs', PREPARE_CJS, 'precompute-logits.js', 'teacher-worker.js'].every((f) => existsSync(join(out, f)))) {
  throw new Error(`bundle: esbuild did not write the expected entry points to ${out}`);
}
// Chunks of an earlier build go first (their names carry content hashes), then the new files
// are moved in, the entry point last, so a command started meanwhile finds a complete set.
for (const f of readdirSync(dest)) if (f.startsWith(LAZY)) rmSync(join(dest, f));
const files = readdirSync(out).sort((a, b) => Number(a.startsWith('precompute-logits.')) - Number(b.startsWith('precompute-logits.')));
for (const f of files) renameSync(join(out, f), join(dest, f));
rmSync(out, { recursive: true, force: true });
process.stdout.write(`bundle: dist/cli/precompute-logits.js + teacher-worker.js, ${files.filter((f) => f.startsWith(LAZY) && f.endsWith('.js')).length} lazy chunks\n`);
process.stdout.write(`bundle: dist/manifest.validate.cjs (manifest schema compiled at build time, ${(writeManifestValidator(pkg) / 1024).toFixed(1)} KiB)\n`);

/**
 * The worker bundle's import of prepare-model.ts (session.ts loads it by dynamic import) is
 * left to load dist/cli/teacher-prepare.cjs, built beside it, instead of being bundled in.
 * The build fails if session.ts imports it statically again, which would undo the split.
 */
function lazyPrepare(): Plugin {
  return {
    name: 'lazy-prepare',
    setup(b) {
      b.onResolve({ filter: /[\\/]prepare-model\.js$/ }, (args) => {
        if (args.kind !== 'dynamic-import') throw new Error(`bundle: ${args.importer} imports ${args.path} statically; the teacher worker must load it lazily (src/cli/bundle.ts, lazyPrepare)`);
        return { path: `./${PREPARE_CJS}`, external: true };
      });
    },
  };
}

/**
 * onnxruntime-node's binding.js loads its addon with a path relative to its own file, which
 * no longer holds once the file is bundled elsewhere: the require is rewritten to find the
 * addon inside the installed onnxruntime-node package, wherever node_modules is. The build
 * fails if the line is not there (an onnxruntime-node update changed it), never silently.
 */
function ortNativeBinding(): Plugin {
  const relative = '`../bin/napi-v6/${process.platform}/${process.arch}/onnxruntime_binding.node`';
  // The package is named through a variable: a literal would make esbuild try to bundle it.
  const located = "(() => { const pkg = 'onnxruntime-node/package.json'; const path = require('node:path'); "
    + "return path.join(path.dirname(require.resolve(pkg)), 'bin', 'napi-v6', process.platform, process.arch, 'onnxruntime_binding.node'); })()";
  return {
    name: 'ort-native-binding',
    setup(b) {
      b.onLoad({ filter: /onnxruntime-node[\\/]dist[\\/]binding\.js$/ }, (args) => {
        const text = readFileSync(args.path, 'utf8');
        if (!text.includes(relative)) throw new Error(`bundle: ${args.path} no longer loads its addon as ${relative}; update ortNativeBinding in src/cli/bundle.ts`);
        return { contents: text.replace(relative, located), loader: 'js' };
      });
    },
  };
}
