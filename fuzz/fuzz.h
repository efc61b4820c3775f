/*
 * fuzz/fuzz.h — the one entry point every fuzz target defines.
 *
 * A target is fuzz/<name>.c defining LLVMFuzzerTestOneInput(). Built with
 * -Dfuzz=true it links libFuzzer (clang -fsanitize=fuzzer); otherwise it links
 * fuzz/replay.c, which runs it once on every file of its committed corpus so
 * that `meson test` replays the corpora on every run. A target calls abort()
 * when a property fails; returning normally means "fine".
 */
#ifndef WARD_FUZZ_H
#define WARD_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
