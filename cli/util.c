/*
 * cli/util.c — small helpers shared by the `ward` subcommands: one-line
 * error reporting, passphrase input and duration parsing.
 *
 * Passphrases never come from argv. They are read from a file (the first
 * line, at most the caller's buffer) or from /dev/tty with echo off; the
 * terminal's settings are restored on every path, including a signal that
 * arrives while echo is off (the signal is then re-raised). Every
 * intermediate copy is wiped before it goes out of scope.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <termios.h>
#include <unistd.h>

#include "cli.h"
#include "ward/buf.h"

#define CLI_PASS_FILE_MAX 4096 /* a passphrase file larger than this is refused */

void cli_error(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("ward: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/*
 * Take the first line of a passphrase file. The file is read into buf
 * directly (no heap copy to forget); everything after the first line is
 * wiped.
 */
static WARD_MUST_USE ward_err pass_from_file(const char *file, char *buf, size_t bufsz, size_t *len,
                                             struct ward_msg *m)
{
	ward_err e = WARD_OK;
	size_t got = 0;
	int fd = -1;

	if (bufsz < 2)
		return ward_msg_set(m, WARD_E_INVAL, "passphrase buffer too small");
	fd = open(file, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (fd < 0) {
		e = ward_msg_set(m, WARD_E_IO, "cannot open passphrase file %s: %s", file,
		                 strerror(errno));
		goto out;
	}
	/* Read until the first newline, EOF, or the buffer is full. */
	while (got < bufsz - 1) {
		ssize_t n = read(fd, buf + got, bufsz - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			e = ward_msg_set(m, WARD_E_IO, "cannot read passphrase file %s: %s", file,
			                 strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		if (memchr(buf + got, '\n', (size_t)n)) {
			got += (size_t)n;
			break;
		}
		got += (size_t)n;
	}
	char *nl = memchr(buf, '\n', got);
	if (!nl && got == bufsz - 1) {
		e = ward_msg_set(m, WARD_E_TOOBIG,
		                 "passphrase file %s: first line longer than %zu bytes", file,
		                 bufsz - 2);
		goto out;
	}
	size_t line = nl ? (size_t)(nl - buf) : got;
	if (line > 0 && buf[line - 1] == '\r')
		line--;
	if (memchr(buf, '\0', line)) {
		e = ward_msg_set(m, WARD_E_PARSE, "passphrase file %s: NUL byte in the passphrase",
		                 file);
		goto out;
	}
	if (line == 0) {
		e = ward_msg_set(m, WARD_E_INVAL, "passphrase file %s: the first line is empty",
		                 file);
		goto out;
	}
	ward_wipe(buf + line, bufsz - line);
	*len = line;
out:
	if (e != WARD_OK)
		ward_wipe(buf, bufsz);
	if (fd >= 0)
		close(fd);
	return e;
}

/* Signals that must not leave the terminal with echo off. */
static const int tty_signals[] = {SIGINT,  SIGTERM, SIGHUP,  SIGQUIT, SIGTSTP,
                                  SIGTTIN, SIGTTOU, SIGALRM, SIGPIPE};
#define N_TTY_SIGNALS (sizeof(tty_signals) / sizeof(tty_signals[0]))
static volatile sig_atomic_t tty_caught;

static void tty_on_signal(int sig)
{
	tty_caught = sig;
}

/*
 * Prompt on the open terminal fd and read one line without echo into buf.
 * Returns WARD_E_IO on read errors and on an interrupting signal (which the
 * caller re-raises once the terminal is restored).
 */
static WARD_MUST_USE ward_err tty_read_line(int fd, const char *prompt, char *buf, size_t bufsz,
                                            size_t *len, struct ward_msg *m)
{
	size_t got = 0;
	bool toolong = false;

	if (write(fd, prompt, strlen(prompt)) < 0)
		return ward_msg_set(m, WARD_E_IO, "cannot write to the terminal: %s",
		                    strerror(errno));
	for (;;) {
		char c;
		ssize_t n = read(fd, &c, 1);
		if (n < 0 && errno == EINTR) {
			if (tty_caught)
				return ward_msg_set(m, WARD_E_IO, "interrupted");
			continue;
		}
		if (n < 0)
			return ward_msg_set(m, WARD_E_IO, "cannot read from the terminal: %s",
			                    strerror(errno));
		if (n == 0 || c == '\n' || c == '\r')
			break;
		if (got < bufsz - 1)
			buf[got++] = c;
		else
			toolong = true;
		c = 0;
	}
	buf[got] = '\0';
	if (toolong)
		return ward_msg_set(m, WARD_E_TOOBIG, "passphrase longer than %zu bytes",
		                    bufsz - 2);
	*len = got;
	return WARD_OK;
}

static WARD_MUST_USE ward_err pass_from_tty(const char *prompt, int confirm, char *buf,
                                            size_t bufsz, size_t *len, struct ward_msg *m)
{
	struct sigaction sa, old[N_TTY_SIGNALS];
	struct termios saved, quiet;
	char again[1024];
	size_t len1 = 0, len2 = 0;
	bool restore = false, handlers = false;
	ward_err e = WARD_OK;
	int fd;

	if (bufsz < 2)
		return ward_msg_set(m, WARD_E_INVAL, "passphrase buffer too small");
	fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (fd < 0)
		return ward_msg_set(
		    m, WARD_E_IO,
		    "no terminal to ask for the passphrase (%s); use --passphrase-file "
		    "or WARD_PASSPHRASE_FILE",
		    strerror(errno));
	if (tcgetattr(fd, &saved) != 0) {
		e = ward_msg_set(m, WARD_E_IO, "cannot read terminal settings: %s",
		                 strerror(errno));
		goto out;
	}
	/* Handlers without SA_RESTART, so a signal interrupts the read. */
	tty_caught = 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = tty_on_signal;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < N_TTY_SIGNALS; i++)
		sigaction(tty_signals[i], &sa, &old[i]);
	handlers = true;
	quiet = saved;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHOE | ECHOK);
	quiet.c_lflag |= ECHONL;
	if (tcsetattr(fd, TCSAFLUSH, &quiet) != 0) {
		e = ward_msg_set(m, WARD_E_IO, "cannot turn off terminal echo: %s",
		                 strerror(errno));
		goto out;
	}
	restore = true;
	e = tty_read_line(fd, prompt, buf, bufsz, &len1, m);
	if (e != WARD_OK)
		goto out;
	if (len1 == 0) {
		e = ward_msg_set(m, WARD_E_INVAL, "empty passphrase");
		goto out;
	}
	if (confirm) {
		e = tty_read_line(fd, "Repeat the passphrase: ", again,
		                  sizeof(again) < bufsz ? sizeof(again) : bufsz, &len2, m);
		if (e != WARD_OK)
			goto out;
		if (len1 != len2 || !ward_ct_eq(buf, again, len1)) {
			e = ward_msg_set(m, WARD_E_INVAL, "the passphrases do not match");
			goto out;
		}
	}
	*len = len1;
out:
	ward_wipe(again, sizeof(again));
	if (e != WARD_OK)
		ward_wipe(buf, bufsz);
	if (restore)
		tcsetattr(fd, TCSAFLUSH, &saved);
	if (handlers)
		for (size_t i = 0; i < N_TTY_SIGNALS; i++)
			sigaction(tty_signals[i], &old[i], NULL);
	close(fd);
	if (tty_caught)
		raise(tty_caught); /* with the terminal restored and old handlers back */
	return e;
}

ward_err cli_passphrase(const char *file, const char *prompt, int confirm, char *buf, size_t bufsz,
                        size_t *len, struct ward_msg *m)
{
	if (!file || !*file) {
		const char *env = getenv("WARD_PASSPHRASE_FILE");
		if (env && *env)
			file = env;
	}
	if (file && *file)
		return pass_from_file(file, buf, bufsz, len, m);
	return pass_from_tty(prompt, confirm, buf, bufsz, len, m);
}

ward_err cli_parse_duration(const char *s, long long *out)
{
	/* At most 200 years: far beyond any sensible expiry, far below time_t overflow. */
	const long long max = 200LL * 365 * 86400;
	long long mult, v = 0;
	size_t i = 0;

	if (!s || !(s[0] >= '0' && s[0] <= '9'))
		return WARD_E_PARSE;
	while (s[i] >= '0' && s[i] <= '9') {
		if (v > max)
			return WARD_E_PARSE;
		v = v * 10 + (s[i] - '0');
		i++;
	}
	switch (s[i]) {
	case 's':
		mult = 1;
		break;
	case 'm':
		mult = 60;
		break;
	case 'h':
		mult = 3600;
		break;
	case 'd':
		mult = 86400;
		break;
	case 'w':
		mult = 7 * 86400;
		break;
	case 'y':
		mult = 365 * 86400;
		break;
	default:
		return WARD_E_PARSE;
	}
	if (s[i + 1] != '\0' || v == 0 || v > max / mult)
		return WARD_E_PARSE;
	*out = v * mult;
	return WARD_OK;
}

/* ---- shared by several subcommands (moved here from init.c: no database) ---- */

bool cli_ident_ok(const char *s, size_t max)
{
	size_t n = s ? strlen(s) : 0;

	if (n == 0 || n > max)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = s[i];
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      c == '-' || c == '_' || c == '.'))
			return false;
	}
	return true;
}

void cli_utc(time_t t, char out[21])
{
	struct tm tm;

	if (!gmtime_r(&t, &tm) || strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm) != 20)
		memcpy(out, "0000-00-00T00:00:00Z", 21); /* unrepresentable: never expected */
}

void cli_actor(char *out, size_t n)
{
	struct passwd *pw = getpwuid(getuid());

	snprintf(out, n, "cli:%.80s", pw && pw->pw_name ? pw->pw_name : "unknown");
}
