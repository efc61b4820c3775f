/*
 * ward/version.h — comparing firmware versions.
 *
 * Versions are dotted sequences such as "1.4.0" or "2024.11.2". They compare
 * component by component: two numeric components numerically, otherwise by
 * bytes; a missing component counts as 0 ("1.4" == "1.4.0"). A version that
 * is empty, longer than 64 bytes or holds anything but [0-9A-Za-z.+~-] is
 * invalid, so a floor can never be bypassed by an odd string.
 */
#ifndef WARD_VERSION_H
#define WARD_VERSION_H

#include <stdbool.h>

#include "ward/err.h"

#define WARD_VERSION_MAX 64

bool ward_version_valid(const char *v);
/* <0, 0, >0 as a is older than, equal to, newer than b; both must be valid. */
int ward_version_cmp(const char *a, const char *b);

#endif
