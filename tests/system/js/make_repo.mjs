#!/usr/bin/env node
// make_repo.mjs — build a complete static TUF repository with @tufjs/models,
// so that ward's client can be checked against metadata that ward did not
// write.
//
//   node make_repo.mjs --out DIR [--key-type ed25519|ecdsa]
//        [--no-consistent-snapshot] [--rotate-root] [--no-meta-hashes]
//        [--target-hashes sha256[,sha512]]
//        [--target NAME=FILE ...]
//        [--delegate ROLE:PATTERN --delegated-target NAME=FILE ...]
//
// Writes DIR/metadata and DIR/targets as a static web server would serve
// them (TUF 1.0 file names):
//   metadata/1.root.json            always; also 2.root.json with --rotate-root
//   metadata/root.json              copy of the newest root
//   metadata/timestamp.json         never versioned
//   metadata/N.snapshot.json, N.targets.json, N.ROLE.json  with consistent
//                                   snapshots (the default), else
//   metadata/snapshot.json, targets.json, ROLE.json
//   targets/<dir>/<hash>.<base>     one copy per hash with consistent
//                                   snapshots, else targets/<path>
// Versions are deliberately not all 1 (targets 2, delegated role 3,
// snapshot 4, timestamp 5), so that a client which guesses a version instead
// of reading it from snapshot.json fetches a file that does not exist.
//
// Keys: one fresh key per top-level role and one for the delegated role,
// generated with node:crypto: ed25519 (keyval.public = 64 hex chars) or P-256
// (keytype "ecdsa", scheme "ecdsa-sha2-nistp256", keyval.public = SPKI PEM,
// DER signatures over SHA-256). Key ids are SHA-256 of the key object's
// canonical JSON. --rotate-root makes root version 2 with a new root key and a
// new timestamp key, signed by both the old and the new root key; timestamp
// is then signed only by the new timestamp key, so a client that skips root
// rotation cannot verify it.
//
// Metadata files are written pretty-printed (not canonical), as python-tuf
// does, so that a client has to canonicalise before verifying. Timestamp and
// snapshot carry length and sha256 of the files they describe unless
// --no-meta-hashes.
//
// Prints a JSON summary on stdout: versions, key ids, consistent_snapshot,
// and for each target its role, length, hashes and the files written.

import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { canonicalize } from '@tufjs/canonical-json';
import {
  Key,
  Metadata,
  MetaFile,
  Root,
  Signature,
  Snapshot,
  TargetFile,
  Targets,
  Timestamp,
} from '@tufjs/models';
import { Delegations } from '@tufjs/models/dist/delegations.js';
import { DelegatedRole } from '@tufjs/models/dist/role.js';

const SPEC_VERSION = '1.0.31';
const VERSIONS = { targets: 2, delegated: 3, snapshot: 4, timestamp: 5 };

function die(msg) {
  process.stderr.write(`make_repo: ${msg}\n`);
  process.exit(2);
}

function parseArgs(argv) {
  const o = {
    keyType: 'ed25519',
    consistent: true,
    rotateRoot: false,
    metaHashes: true,
    targetHashes: ['sha256'],
    targets: [],
    delegate: null,
    delegatedTargets: [],
  };
  const pair = (v, flag) => {
    const i = v.indexOf('=');
    if (i <= 0 || i === v.length - 1) die(`${flag} wants NAME=FILE, got ${v}`);
    return { name: v.slice(0, i), file: v.slice(i + 1) };
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const val = () => {
      if (i + 1 >= argv.length) die(`missing value after ${a}`);
      return argv[++i];
    };
    switch (a) {
      case '--out': o.out = val(); break;
      case '--key-type': o.keyType = val(); break;
      case '--no-consistent-snapshot': o.consistent = false; break;
      case '--rotate-root': o.rotateRoot = true; break;
      case '--no-meta-hashes': o.metaHashes = false; break;
      case '--target-hashes': o.targetHashes = val().split(','); break;
      case '--target': o.targets.push(pair(val(), a)); break;
      case '--delegated-target': o.delegatedTargets.push(pair(val(), a)); break;
      case '--delegate': {
        const v = val();
        const j = v.indexOf(':');
        if (j <= 0 || j === v.length - 1) die(`--delegate wants ROLE:PATTERN, got ${v}`);
        o.delegate = { role: v.slice(0, j), pattern: v.slice(j + 1) };
        break;
      }
      default: die(`unknown argument ${a}`);
    }
  }
  if (!o.out) die('--out DIR is required');
  if (!['ed25519', 'ecdsa'].includes(o.keyType)) die(`--key-type is ed25519 or ecdsa, not ${o.keyType}`);
  for (const h of o.targetHashes) if (!['sha256', 'sha512'].includes(h)) die(`unsupported hash ${h}`);
  if (o.delegatedTargets.length && !o.delegate) die('--delegated-target needs --delegate');
  return o;
}

// A key pair with its TUF public key object and a signer for Metadata.sign().
function newKey(keyType) {
  let pub, sign, keytype, scheme;
  if (keyType === 'ed25519') {
    const { publicKey, privateKey } = crypto.generateKeyPairSync('ed25519');
    pub = Buffer.from(publicKey.export({ format: 'jwk' }).x, 'base64url').toString('hex');
    keytype = scheme = 'ed25519';
    sign = (data) => crypto.sign(null, data, privateKey);
  } else {
    const { publicKey, privateKey } = crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' });
    pub = publicKey.export({ format: 'pem', type: 'spki' }).toString();
    keytype = 'ecdsa';
    scheme = 'ecdsa-sha2-nistp256';
    sign = (data) => crypto.sign('sha256', data, { key: privateKey, dsaEncoding: 'der' });
  }
  const keyObj = { keytype, scheme, keyval: { public: pub } };
  const keyID = crypto.createHash('sha256').update(canonicalize(keyObj)).digest('hex');
  const key = Key.fromJSON(keyID, keyObj);
  const signer = (data) => new Signature({ keyID, sig: sign(data).toString('hex') });
  return { keyID, key, signer };
}

function expires(days) {
  return new Date(Date.now() + days * 86400e3).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

function hashes(data, algs) {
  const h = {};
  for (const a of algs) h[a] = crypto.createHash(a).update(data).digest('hex');
  return h;
}

function serialize(md) {
  return Buffer.from(JSON.stringify(md.toJSON(), null, 2) + '\n');
}

function metaFile(version, bytes, withHashes) {
  return withHashes
    ? new MetaFile({ version, length: bytes.length, hashes: hashes(bytes, ['sha256']) })
    : new MetaFile({ version });
}

function main() {
  const o = parseArgs(process.argv.slice(2));
  const metaDir = path.join(o.out, 'metadata');
  const targetsDir = path.join(o.out, 'targets');
  fs.mkdirSync(metaDir, { recursive: true });
  fs.mkdirSync(targetsDir, { recursive: true });
  const summary = {
    key_type: o.keyType,
    consistent_snapshot: o.consistent,
    versions: { ...VERSIONS, root: o.rotateRoot ? 2 : 1 },
    keyids: {},
    targets: {},
    metadata_files: [],
  };

  const keys = {
    root: newKey(o.keyType),
    targets: newKey(o.keyType),
    snapshot: newKey(o.keyType),
    timestamp: newKey(o.keyType),
  };
  const delegatedKey = o.delegate ? newKey(o.keyType) : null;

  const writeMeta = (name, bytes) => {
    fs.writeFileSync(path.join(metaDir, name), bytes);
    summary.metadata_files.push(name);
  };
  const metaName = (role, version) => (o.consistent ? `${version}.${role}.json` : `${role}.json`);

  // Target files: record them in metadata and copy them under their served names.
  const addTargetFiles = (list, targetsSigned, role) => {
    for (const { name, file } of list) {
      const data = fs.readFileSync(file);
      const tf = new TargetFile({ path: name, length: data.length, hashes: hashes(data, o.targetHashes) });
      targetsSigned.addTarget(tf);
      const written = [];
      const dir = path.posix.dirname(name);
      const base = path.posix.basename(name);
      const servedNames = o.consistent
        ? Object.values(tf.hashes).map((h) => (dir === '.' ? `${h}.${base}` : `${dir}/${h}.${base}`))
        : [name];
      for (const served of servedNames) {
        const dst = path.join(targetsDir, ...served.split('/'));
        fs.mkdirSync(path.dirname(dst), { recursive: true });
        fs.writeFileSync(dst, data);
        written.push(served);
      }
      summary.targets[name] = { role, length: data.length, hashes: tf.hashes, files: written };
    }
  };

  // Delegated role.
  let delegations;
  let delegatedBytes;
  if (o.delegate) {
    const delegated = new Metadata(
      new Targets({ version: VERSIONS.delegated, specVersion: SPEC_VERSION, expires: expires(30) }),
    );
    addTargetFiles(o.delegatedTargets, delegated.signed, o.delegate.role);
    delegated.sign(delegatedKey.signer);
    delegatedBytes = serialize(delegated);
    writeMeta(metaName(o.delegate.role, VERSIONS.delegated), delegatedBytes);
    delegations = new Delegations({
      keys: { [delegatedKey.keyID]: delegatedKey.key },
      roles: {
        [o.delegate.role]: new DelegatedRole({
          name: o.delegate.role,
          keyIDs: [delegatedKey.keyID],
          threshold: 1,
          terminating: false,
          paths: [o.delegate.pattern],
        }),
      },
    });
    summary.keyids[o.delegate.role] = delegatedKey.keyID;
  }

  // Top-level targets.
  const targets = new Metadata(
    new Targets({ version: VERSIONS.targets, specVersion: SPEC_VERSION, expires: expires(30), delegations }),
  );
  addTargetFiles(o.targets, targets.signed, 'targets');
  targets.sign(keys.targets.signer);
  const targetsBytes = serialize(targets);
  writeMeta(metaName('targets', VERSIONS.targets), targetsBytes);

  // Root version 1, and version 2 when rotating.
  const makeRoot = (version, k) => {
    const root = new Metadata(
      new Root({
        version,
        specVersion: SPEC_VERSION,
        expires: expires(365),
        consistentSnapshot: o.consistent,
      }),
    );
    for (const role of ['root', 'targets', 'snapshot', 'timestamp']) root.signed.addKey(k[role].key, role);
    return root;
  };
  const root1 = makeRoot(1, keys);
  root1.sign(keys.root.signer);
  const root1Bytes = serialize(root1);
  writeMeta('1.root.json', root1Bytes);
  let newestRoot = root1Bytes;
  if (o.rotateRoot) {
    const old = { root: keys.root, timestamp: keys.timestamp };
    keys.root = newKey(o.keyType);
    keys.timestamp = newKey(o.keyType);
    const root2 = makeRoot(2, keys);
    root2.sign(old.root.signer); // the trusted root's threshold
    root2.sign(keys.root.signer); // the new root's own threshold
    newestRoot = serialize(root2);
    writeMeta('2.root.json', newestRoot);
    summary.keyids.old_root = old.root.keyID;
    summary.keyids.old_timestamp = old.timestamp.keyID;
  }
  fs.writeFileSync(path.join(metaDir, 'root.json'), newestRoot);

  // Snapshot and timestamp.
  const snapMeta = { 'targets.json': metaFile(VERSIONS.targets, targetsBytes, o.metaHashes) };
  if (o.delegate) snapMeta[`${o.delegate.role}.json`] = metaFile(VERSIONS.delegated, delegatedBytes, o.metaHashes);
  const snapshot = new Metadata(
    new Snapshot({ version: VERSIONS.snapshot, specVersion: SPEC_VERSION, expires: expires(7), meta: snapMeta }),
  );
  snapshot.sign(keys.snapshot.signer);
  const snapshotBytes = serialize(snapshot);
  writeMeta(metaName('snapshot', VERSIONS.snapshot), snapshotBytes);

  const timestamp = new Metadata(
    new Timestamp({
      version: VERSIONS.timestamp,
      specVersion: SPEC_VERSION,
      expires: expires(1),
      snapshotMeta: metaFile(VERSIONS.snapshot, snapshotBytes, o.metaHashes),
    }),
  );
  timestamp.sign(keys.timestamp.signer);
  writeMeta('timestamp.json', serialize(timestamp));

  for (const role of ['root', 'targets', 'snapshot', 'timestamp']) summary.keyids[role] = keys[role].keyID;
  process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
}

main();
