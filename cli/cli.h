/*
 * cli/cli.h — the `ward` command's subcommands. main.c dispatches on the
 * first argument through a table; each subcommand lives in its own file,
 * parses its own options and returns the process exit status.
 */
#ifndef WARD_CLI_H
#define WARD_CLI_H

#include <stddef.h>

#include "ward/err.h"

int cli_tuf(int argc, char **argv);  /* cli/tuf.c: the TUF conformance client CLI */
int cli_repo(int argc, char **argv); /* cli/repo.c: the maker's repository tool */
int cli_bundle(int argc, char **argv); /* cli/bundle.c: offline update bundles */

/* Print "ward: <text>" on stderr, one line. */
void cli_error(const char *fmt, ...) WARD_PRINTF(1, 2);

/*
 * Read a passphrase: from the file named by --passphrase-file / the
 * WARD_PASSPHRASE_FILE environment variable (first line), else from the
 * terminal without echo (twice when `confirm`). Fills buf (NUL-terminated),
 * *len excludes the NUL. The caller wipes buf.
 */
ward_err cli_passphrase(const char *file, const char *prompt, int confirm, char *buf, size_t bufsz,
			size_t *len, struct ward_msg *m) WARD_MUST_USE;

/* Parse a duration "30s", "15m", "12h", "7d", "2w", "1y" into seconds. */
ward_err cli_parse_duration(const char *s, long long *out) WARD_MUST_USE;

#endif
