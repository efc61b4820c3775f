/*
 * agent/config.h — wardd's configuration (an INI file, parsed with libinih).
 *
 *   [device]
 *   hardware_id = acme-cam-v2          ; must equal the image's custom.hardware_id
 *   state_dir = /var/lib/wardd         ; wardd's state (state.json, tuf/)
 *   trusted_root = /etc/ward/root.json ; initial TUF root, copied into state_dir/tuf on first use
 *   booted_from = /proc/cmdline        ; where the bootloader says which slot booted (ward.slot=A|B)
 *
 *   [slots]
 *   a = /dev/mmcblk0p2                 ; slot A: a block device or a raw file
 *   b = /dev/mmcblk0p3
 *   size = 268435456                   ; capacity of a file slot in bytes (block devices: their size)
 *
 *   [bootloader]
 *   backend = uboot | grub | file
 *   fw_env_config = /etc/fw_env.config ; uboot: passed to fw_setenv/fw_printenv -c
 *   grubenv = /boot/grub/grubenv       ; grub: passed to grub-editenv
 *   env_file = /var/lib/wardd/boot.env ; file: the environment file
 *   max_attempts = 3                   ; boots of a new slot before the bootloader falls back
 *
 *   [health]
 *   command = /usr/libexec/health-check ; exit 0 = healthy
 *   timeout = 60                       ; seconds; a hang counts as a failure
 *
 *   [update]
 *   policy = auto | approve            ; approve: write the slot, then wait for `wardd approve`
 *   maintenance_window = 02:00-04:00   ; approve policy: also activate on its own inside this
 *                                      ; daily window (local time; may wrap midnight)
 *   reboot_command = /sbin/reboot      ; run after a slot is marked for trial, or rolled back
 *
 *   [server]                           ; optional: without it wardd works offline only
 *   url = https://ward.example:8443    ; ward-server
 *   ca = /etc/ward/ca.pem              ; the fleet's CA certificates (trust anchors for the server)
 *   cert = /etc/ward/device.pem        ; this device's certificate (renewed in place by wardd)
 *   key = /etc/ward/device.key         ; its private key (0600, never leaves the device)
 *   director_root = /etc/ward/director-root.json ; the director's TUF root (DIR/ca/director-root.json),
 *                                      ; copied into state_dir/director on first use (`wardd update`)
 */
#ifndef WARD_AGENT_CONFIG_H
#define WARD_AGENT_CONFIG_H

#include <stdbool.h>
#include <stdint.h>

#include "ward/err.h"

#define AGENT_PATH_MAX 4096

enum agent_backend {
	AGENT_BOOT_UBOOT,
	AGENT_BOOT_GRUB,
	AGENT_BOOT_FILE,
};

enum agent_policy {
	AGENT_POLICY_AUTO,
	AGENT_POLICY_APPROVE,
};

struct agent_config {
	char hardware_id[128];            /* this device's hardware id */
	char state_dir[AGENT_PATH_MAX];   /* wardd's durable state */
	char trusted_root[AGENT_PATH_MAX]; /* initial TUF root */
	char booted_from[AGENT_PATH_MAX]; /* file with "ward.slot=X" (default /proc/cmdline) */
	char slot[2][AGENT_PATH_MAX];     /* slot A and B paths */
	uint64_t slot_size;               /* capacity of file slots (0 = use block device size) */
	enum agent_backend backend;       /* bootloader backend */
	char fw_env_config[AGENT_PATH_MAX]; /* uboot */
	char grubenv[AGENT_PATH_MAX];     /* grub */
	char env_file[AGENT_PATH_MAX];    /* file */
	unsigned max_attempts;            /* 1..10, default 3 */
	char health_command[AGENT_PATH_MAX]; /* empty = always healthy */
	unsigned health_timeout;          /* seconds, default 60 */
	enum agent_policy policy;         /* default auto */
	int window_start, window_end;     /* maintenance window in minutes after midnight, -1 = none */
	char reboot_command[AGENT_PATH_MAX]; /* empty = none (tests, or the operator reboots) */
	char server_url[1024];            /* ward-server base URL, "" = offline */
	char server_ca[AGENT_PATH_MAX];   /* trust anchors for the server */
	char device_cert[AGENT_PATH_MAX]; /* device certificate (PEM) */
	char device_key[AGENT_PATH_MAX];  /* device key (PKCS#8 PEM) */
	char director_root[AGENT_PATH_MAX]; /* the director's initial TUF root ("" = no director) */
};

/* Is local time t inside cfg's maintenance window? */
bool agent_config_in_window(const struct agent_config *cfg, long t);

/* Parse path into cfg, applying defaults; says which line/key is wrong. */
ward_err agent_config_load(const char *path, struct agent_config *cfg, struct ward_msg *m) WARD_MUST_USE;

#endif
