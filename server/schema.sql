-- server/schema.sql — ward-server's registry schema, for people: SQLite and
-- PostgreSQL alike (BIGINT is 64-bit in both; times are integer seconds since
-- the epoch, UTC).
--
-- ward-server does not read this file: the same SQL is embedded in
-- server/store.c (schema_bootstrap and migrations[]), applied in order on
-- open and recorded in schema_version. tests/unit/store.c checks that this
-- file and the embedded SQL agree (comments and whitespace aside). To change
-- the schema, append a migration in both places; never edit a shipped one.

-- Applied on every open: which migrations have run.
CREATE TABLE IF NOT EXISTS schema_version (
  version BIGINT PRIMARY KEY,
  applied BIGINT NOT NULL
);

-- Migration 1: the initial registry.

-- Production batches: "factory F may enrol `count` devices of `model` until
-- `expires`", authenticated over EST with HTTP Basic `username` and a
-- password whose hash is pass_hash. `used` counts enrolments; it only grows,
-- inside the enrolment's transaction.
CREATE TABLE batches (
  id        TEXT PRIMARY KEY,
  username  TEXT NOT NULL UNIQUE,
  pass_hash TEXT NOT NULL,
  model     TEXT NOT NULL,
  count     BIGINT NOT NULL CHECK (count >= 0),
  used      BIGINT NOT NULL CHECK (used >= 0 AND used <= count),
  expires   BIGINT NOT NULL,
  created   BIGINT NOT NULL
);

-- Devices: one row per enrolled serial (unique: the primary key). cert_serial
-- is the current certificate (a row of certs with device_serial = serial);
-- facts is the last check-in's JSON object, '' before the first.
CREATE TABLE devices (
  serial         TEXT PRIMARY KEY,
  model          TEXT NOT NULL,
  batch_id       TEXT NOT NULL REFERENCES batches (id),
  status         TEXT NOT NULL CHECK (status IN ('active', 'revoked', 'decommissioned')),
  cert_serial    TEXT NOT NULL,
  cert_not_after BIGINT NOT NULL,
  enrolled       BIGINT NOT NULL,
  last_seen      BIGINT NOT NULL,
  facts          TEXT NOT NULL
);
CREATE INDEX devices_batch ON devices (batch_id);

-- Every certificate ever issued to a device (serial: lower-case hex).
-- revoked_at is set on all of a device's certificates when the device is
-- revoked or decommissioned; those rows make the CRL.
CREATE TABLE certs (
  serial        TEXT PRIMARY KEY,
  device_serial TEXT NOT NULL REFERENCES devices (serial),
  pem           TEXT NOT NULL,
  not_after     BIGINT NOT NULL,
  issued        BIGINT NOT NULL,
  revoked_at    BIGINT
);
CREATE INDEX certs_device ON certs (device_serial);
CREATE INDEX certs_revoked ON certs (revoked_at) WHERE revoked_at IS NOT NULL;

-- The CRL number: one row, incremented for every CRL published.
CREATE TABLE crl_state (
  id     BIGINT PRIMARY KEY CHECK (id = 1),
  number BIGINT NOT NULL CHECK (number >= 0)
);
INSERT INTO crl_state (id, number) VALUES (1, 0);

-- The audit log, append-only and hash-chained (see srv_audit in store.h):
--   hash = SHA-256(prev_hash bytes || canonical JSON of
--          {"detail": detail or null, "event", "seq", "subject", "time"})
-- prev_hash of seq 1 is 64 zeros, of seq n the hash of seq n-1; both hex.
-- detail holds a JSON object in canonical form, or NULL.
CREATE TABLE audit (
  seq       BIGINT PRIMARY KEY CHECK (seq >= 1),
  time      BIGINT NOT NULL,
  event     TEXT NOT NULL,
  subject   TEXT NOT NULL,
  detail    TEXT,
  prev_hash TEXT NOT NULL,
  hash      TEXT NOT NULL
);

-- Migration 2: the director (server/director.c, server/store_director.c).

-- What each device should install: the image repository's target path and its
-- entry as the release key signed it ({"length", "hashes", "custom"}, canonical
-- JSON), copied by `ward device assign`. version is the device's director
-- targets/snapshot version: 2 for the first assignment, +1 for each new one (1
-- is the empty targets of a device with no assignment), so it only goes up.
CREATE TABLE device_assignments (
  serial   TEXT PRIMARY KEY REFERENCES devices (serial),
  target   TEXT NOT NULL,
  fileinfo TEXT NOT NULL,
  version  BIGINT NOT NULL CHECK (version >= 2),
  assigned BIGINT NOT NULL
);

-- Migration 3: operator accounts and API tokens (server/store_ops.c).

-- An operator of the fleet. pass_hash is an Argon2id encoded hash
-- ($argon2id$v=19$m=19456,t=2,p=1$salt$tag), never the password.
CREATE TABLE operators (
  name      TEXT PRIMARY KEY,
  pass_hash TEXT NOT NULL,
  role      TEXT NOT NULL CHECK (role IN ('admin', 'release-manager', 'operator', 'auditor')),
  created   BIGINT NOT NULL
);
-- API tokens: token_hash is the lower-case hex SHA-256 of the token (32 random
-- bytes, base64url), which is shown once and never stored. revoked is the
-- time of revocation, or NULL.
CREATE TABLE api_tokens (
  id         TEXT PRIMARY KEY,
  token_hash TEXT NOT NULL UNIQUE,
  operator   TEXT NOT NULL REFERENCES operators (name),
  created    BIGINT NOT NULL,
  expires    BIGINT NOT NULL,
  revoked    BIGINT
);
CREATE INDEX api_tokens_operator ON api_tokens (operator);

-- Migration 4: device labels, stage reports and campaigns
-- (server/store_campaign.c, server/campaign.c).

-- An operator's labels on a device: tags, space-separated and sorted, with a
-- space before and after each (" lab north "), so that LIKE '% lab %' finds a
-- tag on both backends; critical devices get updates only after an
-- operator's approval. report_seq is the seq of the device's last stage
-- report (0: none yet).
ALTER TABLE devices ADD COLUMN tags TEXT NOT NULL DEFAULT ' ';
ALTER TABLE devices ADD COLUMN critical BIGINT NOT NULL DEFAULT 0 CHECK (critical IN (0, 1));
ALTER TABLE devices ADD COLUMN report_seq BIGINT NOT NULL DEFAULT 0 CHECK (report_seq >= 0);

-- Stage reports as the devices sent them (POST /api/v1/device/report). seq is
-- the device's own counter; a report at or below devices.report_seq is a
-- replay and is not stored. time is when ward-server received it.
CREATE TABLE device_reports (
  serial  TEXT NOT NULL REFERENCES devices (serial),
  seq     BIGINT NOT NULL CHECK (seq >= 1),
  time    BIGINT NOT NULL,
  stage   TEXT NOT NULL,
  target  TEXT NOT NULL,
  version TEXT NOT NULL,
  reason  TEXT NOT NULL,
  PRIMARY KEY (serial, seq)
);

-- A campaign offers one image (target, with its signed entry copied as an
-- assignment copies it) to the devices the selector chose when it started,
-- phase by phase. phases: cumulative percentages ("1,10,50,100");
-- max_failure: in hundredths of a percent; phase: the index (from 0) of the
-- phase in progress; phase_approved: the highest phase index an operator let
-- start (only consulted with require_approval); failures_acked: failed and
-- rolled-back devices of the current phase an operator saw when resuming (the
-- threshold counts only failures beyond them); report_timeout: seconds an offered
-- device may go without reporting before it counts as failed (0: no limit).
CREATE TABLE campaigns (
  id               TEXT PRIMARY KEY,
  name             TEXT NOT NULL,
  target           TEXT NOT NULL,
  fileinfo         TEXT NOT NULL,
  version          TEXT NOT NULL,
  selector         TEXT NOT NULL,
  phases           TEXT NOT NULL,
  max_failure      BIGINT NOT NULL CHECK (max_failure >= 0 AND max_failure <= 10000),
  require_approval BIGINT NOT NULL CHECK (require_approval IN (0, 1)),
  state            TEXT NOT NULL CHECK (state IN ('created', 'running', 'paused', 'cancelled', 'finished')),
  phase            BIGINT NOT NULL CHECK (phase >= 0),
  phase_approved   BIGINT NOT NULL CHECK (phase_approved >= 0),
  failures_acked   BIGINT NOT NULL CHECK (failures_acked >= 0),
  report_timeout   BIGINT NOT NULL CHECK (report_timeout >= 0),
  reason           TEXT NOT NULL,
  created_by       TEXT NOT NULL,
  created          BIGINT NOT NULL,
  updated          BIGINT NOT NULL
);

-- The campaign's devices, fixed when it starts, each with its phase; offered
-- says the image was offered to it at least once (only then do its reports
-- move its state).
CREATE TABLE campaign_devices (
  campaign    TEXT NOT NULL REFERENCES campaigns (id),
  serial      TEXT NOT NULL REFERENCES devices (serial),
  phase       BIGINT NOT NULL CHECK (phase >= 0),
  critical    BIGINT NOT NULL CHECK (critical IN (0, 1)),
  approved_by TEXT,
  offered     BIGINT NOT NULL CHECK (offered IN (0, 1)),
  state       TEXT NOT NULL CHECK (state IN ('pending', 'awaiting-approval', 'offered', 'downloading',
                'installed', 'awaiting-local-approval', 'booted', 'healthy', 'rolled-back', 'failed',
                'cancelled')),
  reason      TEXT NOT NULL,
  updated     BIGINT NOT NULL,
  PRIMARY KEY (campaign, serial)
);
CREATE INDEX campaign_devices_serial ON campaign_devices (serial);
CREATE INDEX campaign_devices_state ON campaign_devices (campaign, phase, state);

-- The audit log by subject: a device's or an operator's records (the API's
-- device detail and audit filter, the login throttle of server/store_ops.c).
CREATE INDEX audit_subject ON audit (subject, seq);

-- The harm a compromise of a model would do (risk score, server/risk.h), as
-- operators set it through the API; it overrides DIR/risk.ini's levels for
-- that model ("*": the defaults), so every server of a fleet scores alike.
CREATE TABLE model_harm (
  model      TEXT PRIMARY KEY,
  safety     BIGINT NOT NULL CHECK (safety BETWEEN 0 AND 3),
  revenue    BIGINT NOT NULL CHECK (revenue BETWEEN 0 AND 3),
  brand      BIGINT NOT NULL CHECK (brand BETWEEN 0 AND 3),
  updated    BIGINT NOT NULL,
  updated_by TEXT NOT NULL
);
