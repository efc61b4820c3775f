# ward — the two commands a user needs, and the plumbing behind them.
#
#   make demo    install what is missing, build, run the demo (scripts/demo)
#   make check   install what is missing, build, run every test suite
#
# Both work on a fresh Debian 12 machine as root. Other targets:
#   make deps    install the Debian packages in deps/debian.txt that are missing
#   make build   configure (once) and compile into build/
#   make fuzz    build the libFuzzer targets with clang into build-fuzz/ and run each
#                for FUZZ_SECONDS (default 60); new inputs and crashes go to fuzz-out/
#   make clean   remove every build directory and fuzz-out/
#
# The python3 first on PATH may not be Debian's: everything here uses /usr/bin/python3.

PYTHON := /usr/bin/python3
FUZZ_SECONDS ?= 60
FUZZ_TARGETS ?=

.PHONY: all deps build check demo fuzz clean

all: build

deps:
	@sh scripts/install-deps

build:
	@if [ ! -f build/build.ninja ]; then meson setup build; fi
	ninja -C build

# scripts/check builds too (a compile error is then counted and reported like a
# failing test), runs every suite even after a failure, and ends with the line
# "N passed, M failed".
check: deps
	@$(PYTHON) scripts/check

demo: deps build
	@if [ -x scripts/demo ]; then exec scripts/demo; \
	elif [ -f scripts/demo ]; then exec bash scripts/demo; \
	else echo "make demo: the demo is not built yet (there is no scripts/demo)" >&2; exit 1; fi

fuzz: deps
	@FUZZ_SECONDS=$(FUZZ_SECONDS) FUZZ_TARGETS="$(FUZZ_TARGETS)" bash scripts/fuzz

clean:
	rm -rf build build-asan build-fuzz fuzz-out
