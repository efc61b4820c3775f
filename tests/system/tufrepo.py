"""
tufrepo — a small TUF 1.0 repository builder for ward's attack tests.

It makes valid repositories (root, timestamp, snapshot, targets, delegated
targets roles, target files) and lets a test corrupt any piece precisely:
re-sign a changed "signed" part, sign with the wrong keys, duplicate or flip
signatures, publish arbitrary bytes in place of a role's metadata. It is used
only by tests/system/test_attacks.py and is independent of ward's code: the
signatures come from the `cryptography` package, the canonical form is
OLPC canonical JSON (see canonical()), UTF-8.

Layout served by tests/system/hostile.py (the dict `Repository.files`):
  /metadata/N.root.json           every root version, always
  /metadata/timestamp.json        the latest timestamp
  /metadata/V.ROLE.json           snapshot, targets, delegated roles (consistent snapshots)
  /metadata/ROLE.json             the same, latest only (no consistent snapshots)
  /targets/DIR/HASH.NAME          targets (consistent snapshots, one copy per listed hash)
  /targets/DIR/NAME               targets (no consistent snapshots)

Invariants: `history[role][version]` holds every byte string ever published for
a role; `files` holds what an honest server would serve now. Publishing never
changes anything else, so a test can always fetch an old version to replay it.
"""

import copy
import hashlib
import json
import time
import urllib.parse

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

SPEC_VERSION = "1.0.31"
TOP_LEVEL = ("root", "timestamp", "snapshot", "targets")
DAY = 86400


def canonical(obj):
    """
    The bytes every signature covers: OLPC canonical JSON of obj, as
    securesystemslib (python-tuf) and tuf-js write it: no whitespace, members
    sorted by key, strings raw UTF-8 with only '"' and '\\' escaped (a PEM's
    newlines stay newlines), integers in decimal, no reals. It equals
    json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    except for strings holding control characters, where json.dumps would
    write escapes that no TUF implementation signs.
    """
    return _canon(obj).encode("utf-8")


def _canon(o):
    if o is True:
        return "true"
    if o is False:
        return "false"
    if o is None:
        return "null"
    if isinstance(o, int):
        return str(o)
    if isinstance(o, str):
        return '"' + o.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(o, (list, tuple)):
        return "[" + ",".join(_canon(v) for v in o) + "]"
    if isinstance(o, dict):
        return "{" + ",".join(_canon(k) + ":" + _canon(o[k]) for k in sorted(o)) + "}"
    raise TypeError(f"no canonical JSON form for {type(o).__name__}")


def serialize(envelope):
    """How metadata files are written: indented, so clients must re-canonicalize."""
    return json.dumps(envelope, sort_keys=True, indent=1, ensure_ascii=False).encode("utf-8")


def tuf_time(t):
    """A POSIX time as TUF's "YYYY-MM-DDTHH:MM:SSZ" (UTC, whole seconds, truncated)."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(t)))


def expires_in(seconds):
    """An expiry `seconds` from now (negative: already expired)."""
    return tuf_time(time.time() + seconds)


def sha256_hex(data):
    return hashlib.sha256(data).hexdigest()


def fileinfo(data, algorithms=("sha256",), length=True):
    """TUF file info: {"length": n, "hashes": {alg: hex}} for data."""
    info = {}
    if length:
        info["length"] = len(data)
    if algorithms:
        info["hashes"] = {alg: hashlib.new(alg, data).hexdigest() for alg in algorithms}
    return info


class Key:
    """A signing key with its TUF public key dict and key id."""

    def __init__(self, keytype="ed25519"):
        self.keytype = keytype
        if keytype == "ed25519":
            self._priv = Ed25519PrivateKey.generate()
            raw = self._priv.public_key().public_bytes(serialization.Encoding.Raw,
                                                       serialization.PublicFormat.Raw)
            self.public = {"keytype": "ed25519", "scheme": "ed25519", "keyval": {"public": raw.hex()}}
        elif keytype == "ecdsa":
            self._priv = ec.generate_private_key(ec.SECP256R1())
            pem = self._priv.public_key().public_bytes(serialization.Encoding.PEM,
                                                       serialization.PublicFormat.SubjectPublicKeyInfo)
            self.public = {"keytype": "ecdsa", "scheme": "ecdsa-sha2-nistp256",
                           "keyval": {"public": pem.decode("ascii")}}
        else:
            raise ValueError(f"unsupported key type {keytype!r}")
        self.keyid = sha256_hex(canonical(self.public))

    def sign(self, data):
        """Hex signature over data (ECDSA: DER, SHA-256, randomized)."""
        if self.keytype == "ed25519":
            return self._priv.sign(data).hex()
        return self._priv.sign(data, ec.ECDSA(hashes.SHA256())).hex()

    def verify(self, sig_hex, data):
        """True when sig_hex is a valid signature of data by this key (self-checks only)."""
        try:
            sig = bytes.fromhex(sig_hex)
            if self.keytype == "ed25519":
                self._priv.public_key().verify(sig, data)
            else:
                self._priv.public_key().verify(sig, data, ec.ECDSA(hashes.SHA256()))
            return True
        except (ValueError, InvalidSignature):
            return False

    def __repr__(self):
        return f"Key({self.keytype}, {self.keyid[:8]})"


def envelope(signed, keys):
    """{"signatures": [...], "signed": signed}, one signature per key, in order."""
    data = canonical(signed)
    return {"signatures": [{"keyid": k.keyid, "sig": k.sign(data)} for k in keys], "signed": signed}


class Repository:
    """
    A TUF repository in memory.

    Typical use:
        repo = Repository()                      # v1 of every role, published
        repo.add_target("files/app.bin", b"...")
        repo.commit("targets")                   # targets v2, snapshot v2, timestamp v2
        bad = repo.variant("timestamp", version=1)
        repo.files["/metadata/timestamp.json"] = repo.sign("timestamp", bad)

    keytype: "ed25519" or "ecdsa"; nkeys/threshold: keys per top-level role and
    how many must sign; meta_hashes: whether timestamp and snapshot give length
    and sha256 of the files they list.
    """

    def __init__(self, *, consistent_snapshot=True, keytype="ed25519", nkeys=1, threshold=1,
                 meta_hashes=True, target_hashes=("sha256",), expires=30 * DAY):
        self.consistent_snapshot = consistent_snapshot
        self.keytype = keytype
        self.meta_hashes = meta_hashes
        self.target_hashes = tuple(target_hashes)
        self.default_expires = expires
        self.keys = {}        # keyid -> Key: every private key this repository made
        self.signers = {}     # role -> [Key]: who signs the role's next publication
        self.signed = {}      # role -> the "signed" dict of the next publication
        self.history = {}     # role -> {version: bytes}: everything ever published
        self.files = {}       # URL path -> bytes: what an honest server serves now
        self.target_data = {}  # target path -> bytes
        self.parent = {}      # delegated role -> delegating role
        self._root_signers_prev = []

        root = {"_type": "root", "spec_version": SPEC_VERSION, "version": 1,
                "expires": expires_in(expires), "consistent_snapshot": consistent_snapshot,
                "keys": {}, "roles": {}}
        self.signed["root"] = root
        for role in TOP_LEVEL:
            ks = [self.new_key() for _ in range(nkeys)]
            for k in ks:
                root["keys"][k.keyid] = k.public
            root["roles"][role] = {"keyids": [k.keyid for k in ks], "threshold": threshold}
            self.signers[role] = ks[:max(threshold, 1)]
        self.signed["targets"] = self._new_role("targets", {"targets": {}})
        self.signed["snapshot"] = self._new_role("snapshot", {"meta": {}})
        self.signed["timestamp"] = self._new_role("timestamp", {"meta": {}})
        self.publish("root")
        self.publish("targets")
        self.update_snapshot()

    # ---- keys and roles ------------------------------------------------------

    def new_key(self, keytype=None):
        k = Key(keytype or self.keytype)
        self.keys[k.keyid] = k
        return k

    def _new_role(self, typ, body):
        signed = {"_type": typ, "spec_version": SPEC_VERSION, "version": 1,
                  "expires": expires_in(self.default_expires)}
        signed.update(body)
        return signed

    @property
    def root(self):
        return self.signed["root"]

    def targets_roles(self):
        """Names of every targets role, top-level first."""
        return [r for r in self.signed if r not in ("root", "timestamp", "snapshot")]

    def role_keyids(self, role):
        """(keyids, threshold) a client must use for role, per the current metadata."""
        if role in TOP_LEVEL:
            r = self.root["roles"][role]
            return r["keyids"], r["threshold"]
        parent = self.signed[self.parent[role]]
        for d in parent["delegations"]["roles"]:
            if d["name"] == role:
                return d["keyids"], d["threshold"]
        raise KeyError(role)

    def rotate_keys(self, role, keys=None, threshold=None):
        """Give a top-level role new keys in the (unpublished) next root."""
        keys = keys or [self.new_key()]
        root = self.root
        old = set(root["roles"][role]["keyids"])
        root["roles"][role]["keyids"] = [k.keyid for k in keys]
        if threshold is not None:
            root["roles"][role]["threshold"] = threshold
        for k in keys:
            root["keys"][k.keyid] = k.public
        still_used = {kid for r in root["roles"].values() for kid in r["keyids"]}
        for kid in old - still_used:
            del root["keys"][kid]
        self.signers[role] = list(keys)
        return keys

    def delegate(self, parent, name, *, paths=None, path_hash_prefixes=None, terminating=False,
                 keys=None, threshold=1, signers=None):
        """Add delegated targets role `name` to `parent` (not published)."""
        keys = keys or [self.new_key()]
        p = self.signed[parent]
        dl = p.setdefault("delegations", {"keys": {}, "roles": []})
        for k in keys:
            dl["keys"][k.keyid] = k.public
        entry = {"name": name, "keyids": [k.keyid for k in keys], "threshold": threshold,
                 "terminating": terminating}
        if path_hash_prefixes is not None:
            entry["path_hash_prefixes"] = list(path_hash_prefixes)
        else:
            entry["paths"] = list(paths if paths is not None else ["*"])
        dl["roles"].append(entry)
        self.parent[name] = parent
        self.signers[name] = list(signers if signers is not None else keys[:threshold])
        self.signed[name] = self._new_role("targets", {"targets": {}})
        return keys

    # ---- targets -------------------------------------------------------------

    def add_target(self, path, data, role="targets", custom=None, hashes=None, info=None):
        """List a target in role (not published) and serve its bytes."""
        fi = info if info is not None else fileinfo(data, hashes or self.target_hashes)
        if custom is not None:
            fi["custom"] = custom
        self.signed[role]["targets"][path] = fi
        self.target_data[path] = data
        for url in self.target_urls(path, fi):
            self.files[url] = data
        return fi

    def target_urls(self, path, fi=None):
        """Where an honest server serves a target (one URL per listed hash when consistent)."""
        if not self.consistent_snapshot:
            return ["/targets/" + path]
        if fi is None:
            fi = self._find_target(path)
        d, sep, base = path.rpartition("/")
        return [f"/targets/{d}{sep}{h}.{base}" for h in fi["hashes"].values()]

    def _find_target(self, path):
        for role in self.targets_roles():
            t = self.signed[role].get("targets", {})
            if path in t:
                return t[path]
        raise KeyError(path)

    # ---- signing and publishing ---------------------------------------------

    def variant(self, role, **fields):
        """A deep copy of role's next "signed" dict with fields replaced."""
        s = copy.deepcopy(self.signed[role])
        s.update(fields)
        return s

    def sign(self, role, signed=None, keys=None):
        """Serialized metadata for role: `signed` (default: the next one) signed by keys."""
        signed = self.signed[role] if signed is None else signed
        if keys is None:
            keys = self._signing_keys(role)
        return serialize(envelope(signed, keys))

    def _signing_keys(self, role):
        if role != "root":
            return self.signers[role]
        out = []
        for k in self._root_signers_prev + self.signers["root"]:
            if k not in out:
                out.append(k)
        return out

    def meta_url(self, role, version=None):
        """URL path of role's metadata file at version (default: latest published)."""
        if version is None:
            version = self.version(role)
        name = urllib.parse.quote(role, safe="")
        if role == "root":
            return f"/metadata/{version}.root.json"
        if role == "timestamp" or not self.consistent_snapshot:
            return f"/metadata/{name}.json"
        return f"/metadata/{version}.{name}.json"

    def publish(self, role, bump=True, data=None):
        """
        Sign and serve the next version of role. The version is bumped unless
        this is the role's first publication or bump=False. data replaces the
        signed bytes (for publishing corrupt metadata under the role's name).
        """
        signed = self.signed[role]
        if bump and role in self.history:
            signed["version"] += 1
        if data is None:
            data = self.sign(role)
        version = signed["version"]
        self.history.setdefault(role, {})[version] = data
        self.files[self.meta_url(role, version)] = data
        if role == "root":
            self._root_signers_prev = list(self.signers["root"])
        return data

    def publish_root(self):
        """Next root version, signed by the previous and the current root keys."""
        return self.publish("root")

    def version(self, role):
        return max(self.history[role])

    def latest(self, role):
        return self.history[role][self.version(role)]

    def metafile(self, role, data=None, version=None):
        """A "meta" entry describing the latest (or given) publication of role."""
        if version is None:
            version = self.version(role)
        if data is None:
            data = self.history[role][version]
        info = {"version": version}
        if self.meta_hashes:
            info.update(fileinfo(data))
        return info

    def update_timestamp(self):
        self.signed["timestamp"]["meta"] = {"snapshot.json": self.metafile("snapshot")}
        return self.publish("timestamp")

    def update_snapshot(self):
        """Snapshot listing every published targets role, then a timestamp for it."""
        meta = {}
        for role in self.targets_roles():
            if role in self.history:
                meta[f"{role}.json"] = self.metafile(role)
        self.signed["snapshot"]["meta"] = meta
        self.publish("snapshot")
        return self.update_timestamp()

    def commit(self, *roles):
        """Publish new versions of the given targets roles, then snapshot and timestamp."""
        for role in roles:
            self.publish(role)
        return self.update_snapshot()

    # ---- self-checks ---------------------------------------------------------

    def count_valid(self, role, data, trusted_signed=None):
        """How many distinct keys of role (per trusted_signed root/delegator) validly signed data."""
        env = json.loads(data)
        if role in TOP_LEVEL:
            root = trusted_signed or self.root
            keyids, _ = root["roles"][role]["keyids"], root["roles"][role]["threshold"]
        else:
            keyids, _ = self.role_keyids(role)
        msg = canonical(env["signed"])
        good = set()
        for s in env["signatures"]:
            k = self.keys.get(s["keyid"])
            if s["keyid"] in keyids and k is not None and k.verify(s["sig"], msg):
                good.add(s["keyid"])
        return len(good)
