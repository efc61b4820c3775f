#!/usr/bin/python3
"""Write the seed corpora of ward's fuzz targets into fuzz/corpus/<target>/.

Run: /usr/bin/python3 fuzz/make_corpus.py   (needs python3-cryptography)

The output is reproducible: keys come from fixed seeds, ed25519 signatures
are deterministic, and ECDSA signatures use a nonce derived from the key and
the message (RFC 6979 in spirit) through the small P-256 code below, so the
same script always writes the same bytes. Every file it writes is replaced on
each run; files named regress-* (inputs that once found a bug, added by hand)
are left alone.

Targets and their input formats:
  json_canonical  any JSON text
  tuf_metadata    one role digit ('0' root, '1' timestamp, '2' snapshot,
                  '3' targets) followed by a metadata file
  key             a TUF key object
  keyfile         a ward key file (include/ward/keyfile.h)

The spec_* files of tuf_metadata are the example files of the TUF
specification 1.0.31 ("File formats" section; their signatures are not valid
and their key ids do not match their keys: ward must refuse to verify them).
"""

import base64
import hashlib
import json
import os
import struct
import sys

try:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt
except ImportError:  # pragma: no cover
    sys.exit("make_corpus.py: needs python3-cryptography (apt-get install python3-cryptography)")

HERE = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(HERE, "corpus")
MAX_FILE = 64 * 1024
EXPIRES = "2030-01-01T00:00:00Z"

# ---- canonical JSON (OLPC, as securesystemslib's encode_canonical) -------------


def canonical(v):
    """Canonical JSON bytes of v: sorted keys, no whitespace, only '"' and '\\' escaped."""
    if v is True:
        return b"true"
    if v is False:
        return b"false"
    if v is None:
        return b"null"
    if isinstance(v, int):
        return str(v).encode()
    if isinstance(v, str):
        b = v.encode("utf-8")
        return b'"' + b.replace(b"\\", b"\\\\").replace(b'"', b'\\"') + b'"'
    if isinstance(v, (list, tuple)):
        return b"[" + b",".join(canonical(x) for x in v) + b"]"
    if isinstance(v, dict):
        items = sorted(v.items(), key=lambda kv: kv[0].encode("utf-8"))
        return b"{" + b",".join(canonical(k) + b":" + canonical(x) for k, x in items) + b"}"
    raise TypeError("canonical JSON cannot encode %r" % type(v))


def pretty(v):
    return (json.dumps(v, indent=1, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")


# ---- a minimal deterministic P-256 ECDSA signer ------------------------------------

P = 0xFFFFFFFF00000001000000000000000000000000FFFFFFFFFFFFFFFFFFFFFFFF
N = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
A = P - 3
G = (0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296,
     0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5)


def _add(p1, p2):
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    if p1[0] == p2[0] and (p1[1] + p2[1]) % P == 0:
        return None
    if p1 == p2:
        lam = (3 * p1[0] * p1[0] + A) * pow(2 * p1[1], -1, P) % P
    else:
        lam = (p2[1] - p1[1]) * pow(p2[0] - p1[0], -1, P) % P
    x = (lam * lam - p1[0] - p2[0]) % P
    return (x, (lam * (p1[0] - x) - p1[1]) % P)


def _mul(k, pt):
    acc = None
    while k:
        if k & 1:
            acc = _add(acc, pt)
        pt = _add(pt, pt)
        k >>= 1
    return acc


def _der_int(x):
    b = x.to_bytes(33, "big").lstrip(b"\0")
    if not b or b[0] & 0x80:
        b = b"\0" + b
    return b"\x02" + bytes([len(b)]) + b


def ecdsa_sign(d, msg):
    """DER ECDSA-P256-SHA256 signature of msg by private scalar d, with a derived nonce."""
    z = int.from_bytes(hashlib.sha256(msg).digest(), "big")
    ctr = 0
    while True:
        k = int.from_bytes(hashlib.sha512(d.to_bytes(32, "big") + msg + bytes([ctr])).digest(),
                           "big") % N
        ctr += 1
        if k == 0:
            continue
        r = _mul(k, G)[0] % N
        s = pow(k, -1, N) * (z + r * d) % N
        if r and s:
            break
    body = _der_int(r) + _der_int(s)
    return b"\x30" + bytes([len(body)]) + body


# ---- keys ------------------------------------------------------------------------


class Key:
    """A signing key with its TUF key object and key id."""

    def __init__(self, kind, seed):
        self.kind = kind
        digest = hashlib.sha256(b"ward fuzz corpus key " + seed.encode()).digest()
        if kind == "ed25519":
            self.priv = ed25519.Ed25519PrivateKey.from_private_bytes(digest)
            raw = self.priv.public_key().public_bytes(serialization.Encoding.Raw,
                                                      serialization.PublicFormat.Raw)
            self.obj = {"keytype": "ed25519", "scheme": "ed25519",
                        "keyval": {"public": raw.hex()}}
        else:
            self.d = int.from_bytes(digest, "big") % (N - 1) + 1
            self.priv = ec.derive_private_key(self.d, ec.SECP256R1())
            pem = self.priv.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
            self.obj = {"keytype": "ecdsa", "scheme": "ecdsa-sha2-nistp256",
                        "keyval": {"public": pem.decode()}}
        self.keyid = hashlib.sha256(canonical(self.obj)).hexdigest()

    def sign(self, msg):
        if self.kind == "ed25519":
            return self.priv.sign(msg)
        sig = ecdsa_sign(self.d, msg)
        # Cross-check the home-made signer against OpenSSL once per signature.
        from cryptography.hazmat.primitives import hashes
        self.priv.public_key().verify(sig, msg, ec.ECDSA(hashes.SHA256()))
        return sig

    def private_der(self):
        return self.priv.private_bytes(serialization.Encoding.DER,
                                       serialization.PrivateFormat.PKCS8,
                                       serialization.NoEncryption())


def envelope(signed, signers):
    msg = canonical(signed)
    return {"signatures": [{"keyid": k.keyid, "sig": k.sign(msg).hex()} for k in signers],
            "signed": signed}


# ---- TUF metadata ------------------------------------------------------------------

ROOT1 = Key("ed25519", "root1")
ROOT2 = Key("ed25519", "root2")
ROOT3 = Key("ecdsa", "root3")
TARGETS = Key("ed25519", "targets")
SNAPSHOT = Key("ed25519", "snapshot")
TIMESTAMP = Key("ecdsa", "timestamp")
DELEGATE = Key("ed25519", "delegate")
DELEGATE2 = Key("ecdsa", "delegate2")


def sha256hex(b):
    return hashlib.sha256(b).hexdigest()


def root_signed(version=1, roots=(ROOT1,), threshold=1, consistent=False, extra_keys=()):
    keys = {k.keyid: k.obj for k in list(roots) + [TARGETS, SNAPSHOT, TIMESTAMP]}
    for keyid, obj in extra_keys:
        keys[keyid] = obj
    return {
        "_type": "root",
        "spec_version": "1.0.31",
        "version": version,
        "expires": EXPIRES,
        "consistent_snapshot": consistent,
        "keys": keys,
        "roles": {
            "root": {"keyids": [k.keyid for k in roots], "threshold": threshold},
            "targets": {"keyids": [TARGETS.keyid], "threshold": 1},
            "snapshot": {"keyids": [SNAPSHOT.keyid], "threshold": 1},
            "timestamp": {"keyids": [TIMESTAMP.keyid], "threshold": 1},
        },
    }


def target_entry(content, custom=None, sha512=False):
    e = {"length": len(content), "hashes": {"sha256": sha256hex(content)}}
    if sha512:
        e["hashes"]["sha512"] = hashlib.sha512(content).hexdigest()
    if custom is not None:
        e["custom"] = custom
    return e


def targets_signed(version=1, delegations=True):
    s = {
        "_type": "targets",
        "spec_version": "1.0.31",
        "version": version,
        "expires": EXPIRES,
        "targets": {
            "firmware/board-a/1.2.0.img": target_entry(b"firmware image A 1.2.0\n",
                                                       {"hardware": ["board-a"], "version": 120},
                                                       sha512=True),
            "firmware/board-b/1.2.0.img": target_entry(b"firmware image B 1.2.0\n"),
            "README.txt": target_entry(b"hello\n"),
            "caf\u00e9/men\u00fc.txt": target_entry(b"non-ascii path\n"),
        },
    }
    if delegations:
        s["delegations"] = {
            "keys": {DELEGATE.keyid: DELEGATE.obj, DELEGATE2.keyid: DELEGATE2.obj},
            "roles": [
                {"name": "board-c", "keyids": [DELEGATE.keyid], "threshold": 1,
                 "terminating": True, "paths": ["firmware/board-c/*", "docs/board-c-?.txt"]},
                {"name": "bins-0", "keyids": [DELEGATE.keyid, DELEGATE2.keyid], "threshold": 2,
                 "terminating": False, "path_hash_prefixes": ["0", "1", "2", "3"]},
                {"name": "community/extras", "keyids": [DELEGATE2.keyid], "threshold": 1,
                 "terminating": False, "paths": ["*"]},
            ],
        }
    return s


def delegated_signed():
    return {
        "_type": "targets",
        "spec_version": "1.0.31",
        "version": 3,
        "expires": EXPIRES,
        "targets": {"firmware/board-c/2.0.0.img": target_entry(b"firmware image C\n",
                                                             {"hardware": ["board-c"]})},
    }


def snapshot_signed(targets_bytes, delegated_bytes, version=1):
    return {
        "_type": "snapshot",
        "spec_version": "1.0.31",
        "version": version,
        "expires": EXPIRES,
        "meta": {
            "targets.json": {"version": 1, "length": len(targets_bytes),
                             "hashes": {"sha256": sha256hex(targets_bytes)}},
            "board-c.json": {"version": 3, "length": len(delegated_bytes),
                             "hashes": {"sha512": hashlib.sha512(delegated_bytes).hexdigest(),
                                        "sha256": sha256hex(delegated_bytes)}},
            "bins-0.json": {"version": 1},
            "community%2Fextras.json": {"version": 7},
        },
    }


def timestamp_signed(snapshot_bytes, version=1):
    return {
        "_type": "timestamp",
        "spec_version": "1.0.31",
        "version": version,
        "expires": EXPIRES,
        "meta": {"snapshot.json": {"version": 1, "length": len(snapshot_bytes),
                                   "hashes": {"sha256": sha256hex(snapshot_bytes)}}},
    }


def mutate(doc, path, value=None, delete=False):
    """Copy of doc with doc[path...] set to value (or deleted)."""
    doc = json.loads(json.dumps(doc))
    node = doc
    for p in path[:-1]:
        node = node[p]
    if delete:
        del node[path[-1]]
    else:
        node[path[-1]] = value
    return doc


# The example files of the TUF specification 1.0.31 (signatures wrapped in the
# spec are joined here).
SPEC_ROOT = {
    "signatures": [{
        "keyid": "cb3fbd83df4ba2471a736b065650878280964a98843ec13b457a99b2a21cc3b4",
        "sig": "a312b9c3cb4a1b693e8ebac5ee1ca9cc01f2661c14391917dcb111517f72370809"
               "f32c890c6b801e30158ac4efe0d4d87317223077784c7a378834249d048306"}],
    "signed": {
        "_type": "root", "spec_version": "1.0.0", "consistent_snapshot": False,
        "expires": "2030-01-01T00:00:00Z",
        "keys": {
            "1bf1c6e3cdd3d3a8420b19199e27511999850f4b376c4547b2f32fba7e80fca3": {
                "keytype": "ed25519", "scheme": "ed25519", "keyval": {
                    "public": "72378e5bc588793e58f81c8533da64a2e8f1565c1fcc7f253496394ffc52542c"}},
            "135c2f50e57ff11e744d234a62cebad8c38daf399604a7655661cc9199c69164": {
                "keytype": "ed25519", "scheme": "ed25519", "keyval": {
                    "public": "68ead6e54a43f8f36f9717b10669d1ef0ebb38cee6b05317669341309f1069cb"}},
            "cb3fbd83df4ba2471a736b065650878280964a98843ec13b457a99b2a21cc3b4": {
                "keytype": "ed25519", "scheme": "ed25519", "keyval": {
                    "public": "66dd78c5c2a78abc6fc6b267ff1a8017ba0e8bfc853dd97af351949bba021275"}},
            "66676daa73bdfb4804b56070c8927ae491e2a6c2314f05b854dea94de8ff6bfc": {
                "keytype": "ed25519", "scheme": "ed25519", "keyval": {
                    "public": "01c61f8dc7d77fcef973f4267927541e355e8ceda757e2c402818dad850f856e"}},
        },
        "roles": {
            "root": {"keyids": ["cb3fbd83df4ba2471a736b065650878280964a98843ec13b457a99b2a21cc3b4"],
                     "threshold": 1},
            "snapshot": {"keyids": ["66676daa73bdfb4804b56070c8927ae491e2a6c2314f05b854dea94de8ff6bfc"],
                         "threshold": 1},
            "targets": {"keyids": ["135c2f50e57ff11e744d234a62cebad8c38daf399604a7655661cc9199c69164"],
                        "threshold": 1},
            "timestamp": {"keyids": ["1bf1c6e3cdd3d3a8420b19199e27511999850f4b376c4547b2f32fba7e80fca3"],
                          "threshold": 1},
        },
        "version": 1,
    },
}

SPEC_SNAPSHOT = {
    "signatures": [{
        "keyid": "66676daa73bdfb4804b56070c8927ae491e2a6c2314f05b854dea94de8ff6bfc",
        "sig": "f7f03b13e3f4a78a23561419fc0dd741a637e49ee671251be9f8f3fceedfc112e4"
               "4ee3aaff2278fad9164ab039118d4dc53f22f94900dae9a147aa4d35dcfc0f"}],
    "signed": {
        "_type": "snapshot", "spec_version": "1.0.0", "expires": "2030-01-01T00:00:00Z",
        "meta": {
            "targets.json": {"version": 1},
            "project1.json": {"version": 1, "hashes": {
                "sha256": "f592d072e1193688a686267e8e10d7257b4ebfcf28133350dae88362d82a0c8a"}},
            "project2.json": {"version": 1, "length": 604, "hashes": {
                "sha256": "1f812e378264c3085bb69ec5f6663ed21e5882bbece3c3f8a0e8479f205ffb91"}},
        },
        "version": 1,
    },
}

SPEC_TARGETS = {
    "signatures": [{
        "keyid": "135c2f50e57ff11e744d234a62cebad8c38daf399604a7655661cc9199c69164",
        "sig": "e9fd40008fba263758a3ff1dc59f93e42a4910a282749af915fbbea1401178e5a0"
               "12090c228f06db1deb75ad8ddd7e40635ac51d4b04301fce0fd720074e0209"}],
    "signed": {
        "_type": "targets", "spec_version": "1.0.0",
        "delegations": {
            "keys": {"f761033eb880143c52358d941d987ca5577675090e2215e856ba0099bc0ce4f6": {
                "keytype": "ed25519", "scheme": "ed25519", "keyval": {
                    "public": "b6e40fb71a6041212a3d84331336ecaa1f48a0c523f80ccc762a034c727606fa"}}},
            "roles": [{"keyids": ["f761033eb880143c52358d941d987ca5577675090e2215e856ba0099bc0ce4f6"],
                       "name": "project", "paths": ["project/file3.txt"], "threshold": 1}],
        },
        "expires": "2030-01-01T00:00:00Z",
        "targets": {
            "file1.txt": {"hashes": {
                "sha256": "65b8c67f51c993d898250f40aa57a317d854900b3a04895464313e48785440da"},
                "length": 31},
            "dir/file2.txt": {"hashes": {
                "sha256": "452ce8308500d83ef44248d8e6062359211992fd837ea9e370e561efb1a4ca99"},
                "length": 39},
        },
        "version": 1,
    },
}

SPEC_TIMESTAMP = {
    "signatures": [{
        "keyid": "1bf1c6e3cdd3d3a8420b19199e27511999850f4b376c4547b2f32fba7e80fca3",
        "sig": "90d2a06c7a6c2a6a93a9f5771eb2e5ce0c93dd580bebc2080d10894623cfd6eaed"
               "f4df84891d5aa37ace3ae3736a698e082e12c300dfe5aee92ea33a8f461f02"}],
    "signed": {
        "_type": "timestamp", "spec_version": "1.0.0", "expires": "2030-01-01T00:00:00Z",
        "meta": {"snapshot.json": {"hashes": {
            "sha256": "c14aeb4ac9f4a8fc0d83d12482b9197452f6adf3eb710e3b1e2b79e8d14cb681"},
            "length": 1007, "version": 1}},
        "version": 1,
    },
}


def tuf_corpus():
    out = {}

    def add(name, role, doc_or_bytes):
        b = doc_or_bytes if isinstance(doc_or_bytes, bytes) else pretty(doc_or_bytes)
        out[name] = str(role).encode() + b

    # A consistent, validly signed repository.
    root = envelope(root_signed(), [ROOT1])
    delegated = envelope(delegated_signed(), [DELEGATE])
    delegated_b = pretty(delegated)
    targets = envelope(targets_signed(), [TARGETS])
    targets_b = pretty(targets)
    snapshot = envelope(snapshot_signed(targets_b, delegated_b), [SNAPSHOT])
    snapshot_b = pretty(snapshot)
    timestamp = envelope(timestamp_signed(snapshot_b), [TIMESTAMP])

    add("root-valid", 0, root)
    add("root-valid-canonical", 0, canonical(root))
    add("root-2of3-ecdsa", 0, envelope(root_signed(version=2, roots=(ROOT1, ROOT2, ROOT3),
                                                   threshold=2, consistent=True),
                                       [ROOT3, ROOT1]))
    add("root-2of3-one-sig", 0, envelope(root_signed(roots=(ROOT1, ROOT2, ROOT3), threshold=2),
                                         [ROOT2]))
    add("root-rsa-key-listed", 0, envelope(root_signed(extra_keys=[(
        "a" * 64, {"keytype": "rsa", "scheme": "rsassa-pss-sha256",
                   "keyval": {"public": "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n"}})]),
        [ROOT1]))
    bad = json.loads(json.dumps(root))
    sig = bytearray(bytes.fromhex(bad["signatures"][0]["sig"]))
    sig[5] ^= 1
    bad["signatures"][0]["sig"] = sig.hex()
    add("root-bad-sig", 0, bad)
    dup = json.loads(json.dumps(root))
    dup["signatures"].append(dict(dup["signatures"][0]))
    add("root-duplicate-sig", 0, dup)
    add("root-no-sigs", 0, mutate(root, ["signatures"], []))
    add("root-sig-not-hex", 0, mutate(root, ["signatures", 0, "sig"], "zz" * 64))
    add("root-sig-odd-len", 0, mutate(root, ["signatures", 0, "sig"], "abc"))
    add("root-threshold-0", 0, mutate(root, ["signed", "roles", "root", "threshold"], 0))
    add("root-threshold-neg", 0, mutate(root, ["signed", "roles", "root", "threshold"], -1))
    add("root-threshold-huge", 0, mutate(root, ["signed", "roles", "root", "threshold"],
                                         2 ** 63 - 1))
    add("root-missing-timestamp-role", 0, mutate(root, ["signed", "roles", "timestamp"],
                                                 delete=True))
    add("root-keyid-mismatch", 0, mutate(root, ["signed", "keys"], {
        "0" * 64: ROOT1.obj, TARGETS.keyid: TARGETS.obj}))
    add("root-unknown-keyid-in-role", 0, mutate(root, ["signed", "roles", "root", "keyids"],
                                                ["f" * 64]))
    add("root-dup-keyid-in-role", 0, mutate(root, ["signed", "roles", "root", "keyids"],
                                            [ROOT1.keyid, ROOT1.keyid]))
    add("root-spec-2", 0, mutate(root, ["signed", "spec_version"], "2.0.0"))
    add("root-spec-garbage", 0, mutate(root, ["signed", "spec_version"], "1"))
    add("root-type-targets", 0, mutate(root, ["signed", "_type"], "targets"))
    add("root-expires-bad", 0, mutate(root, ["signed", "expires"], "2030-02-30T25:61:61Z"))
    add("root-expires-offset", 0, mutate(root, ["signed", "expires"], "2030-01-01T00:00:00+01:00"))
    add("root-expires-year-9999", 0, mutate(root, ["signed", "expires"], "9999-12-31T23:59:59Z"))
    add("root-version-0", 0, mutate(root, ["signed", "version"], 0))
    add("root-version-string", 0, mutate(root, ["signed", "version"], "1"))
    add("root-signed-array", 0, mutate(root, ["signed"], []))
    add("root-as-timestamp", 1, root)
    add("root-truncated", 0, pretty(root)[: len(pretty(root)) // 2])
    add("spec-root", 0, SPEC_ROOT)

    add("timestamp-valid", 1, timestamp)
    add("timestamp-sha512", 1, mutate(timestamp, ["signed", "meta", "snapshot.json", "hashes"],
                                      {"sha512": hashlib.sha512(snapshot_b).hexdigest()}))
    add("timestamp-version-only", 1, mutate(timestamp, ["signed", "meta", "snapshot.json"],
                                            {"version": 4}))
    add("timestamp-two-meta", 1, mutate(timestamp, ["signed", "meta", "targets.json"],
                                        {"version": 1}))
    add("timestamp-empty-meta", 1, mutate(timestamp, ["signed", "meta"], {}))
    add("timestamp-hash-short", 1, mutate(timestamp, ["signed", "meta", "snapshot.json", "hashes"],
                                          {"sha256": "abcd"}))
    add("timestamp-length-neg", 1, mutate(timestamp, ["signed", "meta", "snapshot.json", "length"],
                                          -5))
    add("spec-timestamp", 1, SPEC_TIMESTAMP)

    add("snapshot-valid", 2, snapshot)
    add("snapshot-no-targets", 2, mutate(snapshot, ["signed", "meta", "targets.json"], delete=True))
    add("snapshot-unknown-hash", 2, mutate(snapshot, ["signed", "meta", "targets.json", "hashes"],
                                           {"md5": "0" * 32}))
    add("spec-snapshot", 2, SPEC_SNAPSHOT)

    add("targets-valid", 3, targets)
    add("targets-no-delegations", 3, envelope(targets_signed(delegations=False), [TARGETS]))
    add("targets-empty", 3, envelope(dict(targets_signed(delegations=False), targets={}),
                                     [TARGETS]))
    add("targets-delegated-role", 3, delegated)
    add("targets-missing-length", 3, mutate(targets, ["signed", "targets", "README.txt", "length"],
                                            delete=True))
    add("targets-custom-not-object", 3, mutate(targets, ["signed", "targets", "README.txt",
                                                         "custom"], [1, 2]))
    add("targets-both-paths-and-prefixes", 3, mutate(
        targets, ["signed", "delegations", "roles", 0, "path_hash_prefixes"], ["ab"]))
    add("targets-dup-role-name", 3, mutate(
        targets, ["signed", "delegations", "roles", 1, "name"], "board-c"))
    add("targets-patterns", 3, mutate(targets, ["signed", "delegations", "roles", 2, "paths"], [
        "**", "firmware/*/*.img", "*.txt", "[abc]*", "a\\*b", "????", "", "/abs/*", "caf\u00e9/*"]))
    add("spec-targets", 3, SPEC_TARGETS)
    return out


# ---- JSON edge cases ------------------------------------------------------------------


def json_corpus():
    out = {
        "empty-object": b"{}",
        "empty-array": b"[]",
        "empty-containers": b'{"a":{},"b":[],"c":[{}],"d":[[]],"":""}',
        "empty-input": b"",
        "whitespace-only": b" \t\r\n",
        "scalar-string": b'"just a string"',
        "scalar-int": b"42",
        "scalar-true": b"true",
        "scalar-null": b"null",
        "key-order": '{"b":1,"a":2,"A":3,"\u00e9":4,"z":5,"aa":6,"a\u0000":7}'.encode()
        .replace(b"\x00", b"\\u0000"),
        "key-order-utf8": '{"\U0001F600":1,"\uffff":2,"\u00ff":3,"~":4}'.encode(),
        "unicode-escapes": b'{"e":"\\u00e9","smile":"\\ud83d\\ude00","cjk":"\\u4e2d\\u6587"}',
        "unicode-raw": '["caf\u00e9","\u4e2d\u6587","\U0001F600"]'.encode(),
        "lone-surrogate": b'["\\ud800"]',
        "invalid-utf8": b'["\xc3\x28", "\xff"]',
        "overlong-utf8": b'["\xc0\xaf"]',
        "control-escapes": b'{"s":"tab\\there\\nnewline\\r\\b\\f\\u0001\\u001f"}',
        "raw-control-char": b'["a\tb"]',
        "nul-escape": b'{"s":"a\\u0000b"}',
        "nul-in-key": b'{"a\\u0000":1}',
        "quotes-backslashes": b'{"q":"say \\"hi\\"","b":"c:\\\\dir\\\\","slash":"\\/"}',
        "big-int-max": b"[9223372036854775807,-9223372036854775808]",
        "big-int-overflow": b"[9223372036854775808]",
        "big-int-huge": b"[123456789012345678901234567890]",
        "neg-zero": b"[-0]",
        "leading-zero": b"[01]",
        "float-simple": b"[1.5]",
        "float-exp": b"[1e10, 2E-3, 1e400, -1e-400]",
        "float-neg-zero": b"[-0.0]",
        "float-in-object": b'{"version":1.0}',
        "duplicate-keys": b'{"a":1,"a":2}',
        "duplicate-keys-nested": b'{"x":{"k":1,"k":1}}',
        "duplicate-keys-escaped": b'{"a":1,"\\u0061":2}',
        "trailing-comma": b"[1,2,]",
        "trailing-garbage": b"{} {}",
        "unterminated": b'{"a":[1,2',
        "bom": b"\xef\xbb\xbf{}",
        "comment": b"{/* c */}",
        "single-quotes": b"{'a':1}",
        "nan": b"[NaN, Infinity]",
        "literals": b"[true,false,null]",
        "long-string": b'["' + b"x" * 60000 + b'"]',
        "many-keys": canonical({"k%04d" % i: i for i in range(2000)}),
        "deep-array-100": b"[" * 100 + b"]" * 100,
        "deep-object-100": b'{"a":' * 100 + b"1" + b"}" * 100,
        "deep-array-2000": b"[" * 2000 + b"]" * 2000,
        "deep-array-3000": b"[" * 3000 + b"]" * 3000,
        "deep-mixed-1000": b'[{"a":' * 1000 + b"0" + b"}]" * 1000,
        "unbalanced": b"[" * 50 + b"]" * 49,
    }
    # Real metadata, pretty and canonical.
    root = envelope(root_signed(roots=(ROOT1, ROOT3), threshold=2), [ROOT1, ROOT3])
    out["tuf-root-pretty"] = pretty(root)
    out["tuf-root-canonical"] = canonical(root)
    out["tuf-spec-targets"] = pretty(SPEC_TARGETS)
    return out


# ---- TUF key objects --------------------------------------------------------------------


def key_corpus():
    ed, p = DELEGATE.obj, ROOT3.obj
    p384 = ec.derive_private_key(12345, ec.SECP384R1()).public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    ed_pem = DELEGATE.priv.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo).decode()
    p256_priv_pem = ROOT3.priv.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()).decode()
    hexpub = ed["keyval"]["public"]
    docs = {
        "ed25519": ed,
        "ed25519-keyid-hash-algs": dict(ed, keyid_hash_algorithms=["sha256", "sha512"]),
        "ed25519-upper-hex": dict(ed, keyval={"public": hexpub.upper()}),
        "ed25519-short": dict(ed, keyval={"public": hexpub[:62]}),
        "ed25519-long": dict(ed, keyval={"public": hexpub + "00"}),
        "ed25519-not-hex": dict(ed, keyval={"public": "g" * 64}),
        "ed25519-pem": dict(ed, keyval={"public": ed_pem}),
        "ed25519-private-field": dict(ed, keyval={"public": hexpub, "private": "00" * 32}),
        "ed25519-scheme-mismatch": dict(ed, scheme="ecdsa-sha2-nistp256"),
        "ed25519-public-int": dict(ed, keyval={"public": 5}),
        "ed25519-no-keyval": {"keytype": "ed25519", "scheme": "ed25519"},
        "ecdsa": p,
        "ecdsa-keytype-long": dict(p, keytype="ecdsa-sha2-nistp256"),
        "ecdsa-p384": dict(p, keyval={"public": p384}),
        "ecdsa-ed25519-pem": dict(p, keyval={"public": ed_pem}),
        "ecdsa-private-pem": dict(p, keyval={"public": p256_priv_pem}),
        "ecdsa-pem-garbage": dict(p, keyval={"public": "-----BEGIN PUBLIC KEY-----\n"
                                             "AAAA\n-----END PUBLIC KEY-----\n"}),
        "ecdsa-pem-truncated": dict(p, keyval={"public": p["keyval"]["public"][:80]}),
        "ecdsa-hex": dict(p, keyval={"public": "04" + "11" * 64}),
        "rsa": {"keytype": "rsa", "scheme": "rsassa-pss-sha256",
                "keyval": {"public": "-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkq\n"
                                     "-----END PUBLIC KEY-----\n"}},
        "unknown-type": {"keytype": "sphincs", "scheme": "sphincs", "keyval": {"public": "00"}},
        "empty-object": {},
        "array": [ed],
    }
    out = {name: pretty(d) for name, d in docs.items()}
    out["ed25519-canonical"] = canonical(ed)
    out["ecdsa-canonical"] = canonical(p)
    out["duplicate-keytype"] = b'{"keytype":"ed25519","keytype":"ed25519","scheme":"ed25519",' \
                               b'"keyval":{"public":"' + hexpub.encode() + b'"}}'
    return out


# ---- key files ---------------------------------------------------------------------------


def keyfile_record(payload, kdf=0, log2n=0, r=0, p=0, salt=b"\0" * 16, nonce=b"\0" * 12,
                   length=None):
    hdr = b"WARDKEY1" + struct.pack(">BBBB", kdf, log2n, r, p) + salt + nonce
    hdr += struct.pack(">I", len(payload) if length is None else length)
    return hdr, hdr + payload


def keyfile(record, comment=b"untrusted comment: ward fuzz corpus key"):
    return comment + b"\n" + base64.b64encode(record) + b"\n"


def keyfile_corpus():
    out = {}
    ed_der, p_der = DELEGATE.private_der(), ROOT3.private_der()
    out["plain-ed25519"] = keyfile(keyfile_record(ed_der)[1])
    out["plain-p256"] = keyfile(keyfile_record(p_der)[1])
    out["plain-no-final-newline"] = keyfile(keyfile_record(ed_der)[1])[:-1]
    out["plain-crlf"] = keyfile(keyfile_record(ed_der)[1]).replace(b"\n", b"\r\n")
    out["plain-no-comment"] = base64.b64encode(keyfile_record(ed_der)[1]) + b"\n"
    out["plain-wrong-comment"] = keyfile(keyfile_record(ed_der)[1], b"comment: x")
    out["plain-bad-magic"] = keyfile(b"WARDKEY2" + keyfile_record(ed_der)[1][8:])
    out["plain-length-short"] = keyfile(keyfile_record(ed_der, length=len(ed_der) - 1)[1])
    out["plain-length-long"] = keyfile(keyfile_record(ed_der, length=len(ed_der) + 1)[1])
    out["plain-length-huge"] = keyfile(keyfile_record(ed_der, length=0xFFFFFFFF)[1])
    out["plain-truncated-header"] = keyfile(keyfile_record(ed_der)[1][:20])
    out["plain-der-garbage"] = keyfile(keyfile_record(b"\x30\x03\x02\x01\x00")[1])
    out["plain-public-der"] = keyfile(keyfile_record(ROOT3.priv.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo))[1])
    out["plain-p384"] = keyfile(keyfile_record(ec.derive_private_key(7, ec.SECP384R1()).private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption()))[1])
    out["kdf-unknown"] = keyfile(keyfile_record(ed_der, kdf=2)[1])
    out["bad-base64"] = b"untrusted comment: x\n@@@@not base64@@@@\n"
    out["base64-no-padding"] = keyfile(keyfile_record(ed_der)[1]).rstrip(b"=\n") + b"\n"
    out["empty"] = b""
    out["three-lines"] = keyfile(keyfile_record(ed_der)[1]) + b"extra line\n"
    # Encrypted records (passphrase "correct horse"): the fuzzer reads without a
    # passphrase, so these must be refused before any scrypt runs.
    salt = hashlib.sha256(b"salt").digest()[:16]
    nonce = hashlib.sha256(b"nonce").digest()[:12]
    for name, der, log2n in (("enc-ed25519", ed_der, 14), ("enc-p256", p_der, 14),
                             ("enc-log2n-63", ed_der, 63)):
        hdr, _ = keyfile_record(b"\0" * (len(der) + 16), kdf=1, log2n=log2n, r=8, p=1,
                                salt=salt, nonce=nonce)
        key = Scrypt(salt=salt, length=32, n=2 ** 14, r=8, p=1).derive(b"correct horse")
        ct = AESGCM(key).encrypt(nonce, der, hdr)
        out[name] = keyfile(hdr + ct)
    return out


def write(target, files):
    d = os.path.join(CORPUS, target)
    os.makedirs(d, exist_ok=True)
    for old in os.listdir(d):
        if not old.startswith("regress-"):
            os.unlink(os.path.join(d, old))
    for name, data in sorted(files.items()):
        if len(data) >= MAX_FILE:
            sys.exit("make_corpus.py: %s/%s is %d bytes; corpus files must stay under %d"
                     % (target, name, len(data), MAX_FILE))
        with open(os.path.join(d, name), "wb") as f:
            f.write(data)
    print("%-16s %3d files" % (target, len(files)))


def main():
    write("json_canonical", json_corpus())
    write("tuf_metadata", tuf_corpus())
    write("key", key_corpus())
    write("keyfile", keyfile_corpus())


if __name__ == "__main__":
    main()
