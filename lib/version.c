/*
 * lib/version.c — dotted firmware versions (see ward/version.h).
 */
#include <string.h>

#include "ward/version.h"

bool ward_version_valid(const char *v)
{
	size_t n = v ? strlen(v) : 0;

	if (n == 0 || n > WARD_VERSION_MAX || v[0] == '.' || v[n - 1] == '.')
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = v[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		      c == '.' || c == '+' || c == '~' || c == '-'))
			return false;
		if (c == '.' && v[i + 1] == '.')
			return false;
	}
	return true;
}

static bool all_digits(const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (p[i] < '0' || p[i] > '9')
			return false;
	return n > 0;
}

int ward_version_cmp(const char *a, const char *b)
{
	while (*a || *b) {
		size_t la = strcspn(a, "."), lb = strcspn(b, ".");
		const char *pa = la ? a : "0", *pb = lb ? b : "0";
		size_t na = la ? la : 1, nb = lb ? lb : 1;
		int c;

		if (all_digits(pa, na) && all_digits(pb, nb)) {
			while (na > 1 && *pa == '0') { /* ignore leading zeros */
				pa++;
				na--;
			}
			while (nb > 1 && *pb == '0') {
				pb++;
				nb--;
			}
			if (na != nb)
				return na < nb ? -1 : 1;
			c = memcmp(pa, pb, na);
		} else {
			c = memcmp(pa, pb, na < nb ? na : nb);
			if (c == 0 && na != nb)
				c = na < nb ? -1 : 1;
		}
		if (c)
			return c < 0 ? -1 : 1;
		a += la + (a[la] == '.');
		b += lb + (b[lb] == '.');
	}
	return 0;
}
