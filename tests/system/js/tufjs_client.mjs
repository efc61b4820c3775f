#!/usr/bin/env node
// tufjs_client.mjs — a command-line TUF client built on tuf-js's Updater, the
// reference client that ward's repositories must satisfy.
//
//   node tufjs_client.mjs --metadata-dir D --metadata-url U
//        [--root FILE] [--target-base-url B --target-dir X --target-name T ...]
//
// --root FILE copies FILE to D/root.json first (the trusted root to start
// from); otherwise D/root.json must already be there. The client refreshes
// (root rotation, timestamp, snapshot, targets), then for each --target-name
// looks the target up (delegations included) and downloads it into X under
// tuf-js's own name for it (the URL-encoded target path). It prints one line
// per downloaded target on stdout, "<target name>\t<file written>", and exits
// 0; on any failure it prints "tufjs_client: <error>" on stderr and exits 1.
// Retries are off, so that a test's request log shows each fetch once.

import fs from 'node:fs';
import path from 'node:path';
import { Updater } from 'tuf-js';

function usage(msg) {
  process.stderr.write(
    `tufjs_client: ${msg}\nusage: node tufjs_client.mjs --metadata-dir D --metadata-url U ` +
      `[--root FILE] [--target-base-url B --target-dir X --target-name T ...]\n`,
  );
  process.exit(2);
}

function parseArgs(argv) {
  const opts = { targetNames: [] };
  const takes = {
    '--metadata-dir': 'metadataDir',
    '--metadata-url': 'metadataUrl',
    '--target-base-url': 'targetBaseUrl',
    '--target-dir': 'targetDir',
    '--root': 'root',
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (i + 1 >= argv.length) usage(`missing value after ${a}`);
    const v = argv[++i];
    if (a === '--target-name') opts.targetNames.push(v);
    else if (takes[a]) opts[takes[a]] = v;
    else usage(`unknown argument ${a}`);
  }
  if (!opts.metadataDir || !opts.metadataUrl) usage('--metadata-dir and --metadata-url are required');
  if (opts.targetNames.length && (!opts.targetBaseUrl || !opts.targetDir))
    usage('--target-name needs --target-base-url and --target-dir');
  return opts;
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  fs.mkdirSync(opts.metadataDir, { recursive: true });
  if (opts.root) fs.copyFileSync(opts.root, path.join(opts.metadataDir, 'root.json'));
  if (opts.targetDir) fs.mkdirSync(opts.targetDir, { recursive: true });

  const updater = new Updater({
    metadataDir: opts.metadataDir,
    metadataBaseUrl: opts.metadataUrl,
    targetDir: opts.targetDir,
    targetBaseUrl: opts.targetBaseUrl,
    config: { fetchRetries: 0, fetchTimeout: 10000 },
  });
  await updater.refresh();
  for (const name of opts.targetNames) {
    const info = await updater.getTargetInfo(name);
    if (!info) throw new Error(`target ${name} not found in the repository's metadata`);
    const written = await updater.downloadTarget(info);
    process.stdout.write(`${name}\t${written}\n`);
  }
}

main().then(
  () => process.exit(0),
  (err) => {
    const kind = err && err.constructor && err.constructor.name ? err.constructor.name : 'Error';
    const msg = `${kind}: ${err && err.message ? err.message : err}`;
    process.stderr.write(`tufjs_client: ${msg.replace(/\s*\n\s*/g, ' ')}\n`);
    process.exit(1);
  },
);
