# EdgeCore build driver. The Swift package builds the Embedded-Swift static archive; this file turns it into
# the shipped libEdgeCore.so / libEdgeCore.a for one architecture, runs the C ABI tests, installs.
#
#   make                      libEdgeCore for this machine (x86_64) in build/x86_64/
#   make ARCH=aarch64         cross-build for 64-bit ARM (also ARCH=armv7: 32-bit ARM, hard-float)
#   make check                everything the README's test command runs (after scripts/install-deps.sh)
#   make tsan-test            Swift tests and the C thread-rule scenarios under the thread sanitizer
#   make asan-test            Swift tests under the address and leak sanitizers
#   make fuzz                 the libFuzzer targets (fuzz/Makefile: site file, Modbus answer decoding) in .build-fuzz;
#                             make -C fuzz run TARGET=site_yaml fuzzes one (1M executions), make fuzz-replay
#                             runs every file of fuzz/corpus/ once through its target (part of make check)
#   make journal-test         the journal on real file systems (Tests/Journal): 100 kill -9 cycles of a writer
#                             and a full 1 MiB tmpfs (part of make check); make journal-kill-soak: 1,000 cycles
#   make install PREFIX=/usr/local [DESTDIR=...]   the library, header, pkg-config file, the tool (bin/edgecore),
#                             the gateway (bin/edgecore-gateway), profiles, man pages, bash completion, systemd unit
#   make man                  the man pages (docs/man/*.md, scripts/mangen.py) in build/man
#   make deb                  Debian packages for amd64, arm64 and armhf in build/deb, checked by lintian
#                             (scripts/make-deb.sh, docs/packaging.md); make deb DEB_ARCHES=amd64: one
#   make deb-test             build the amd64 packages, install them here, test them, purge them (root)
#   make bench                the ring benchmark against boost::lockfree and ck_ring
#   make bench-journal        the journal benchmark against SQLite 3 (benchmarks/README.md; about 4 minutes)
#   make bench-gateway        50 gateways into one local mosquitto (benchmarks/README.md; about 3 minutes)
#   make bench-dlt645         DL/T 645 meters at 2400 8E1 against a wire-timed slave (benchmarks/README.md; about 5 minutes)
#
# Variables: ARCH (x86_64 | aarch64 | armv7), PREFIX, LIBDIR, DESTDIR, and for install: BINDIR, DATADIR,
# MANDIR, SYSTEMDDIR, SYSCONFDIR.

ARCH ?= x86_64
PREFIX ?= /usr/local
LIBDIR ?= $(PREFIX)/lib
BINDIR ?= $(PREFIX)/bin
DATADIR ?= $(PREFIX)/share
MANDIR ?= $(DATADIR)/man
SYSTEMDDIR ?= $(PREFIX)/lib/systemd/system
# /etc for the system's prefixes; a scratch prefix keeps its settings inside it.
SYSCONFDIR ?= $(if $(filter /usr /usr/local,$(PREFIX)),/etc,$(PREFIX)/etc)
SWIFT ?= swift

VERSION := $(shell sed -n 's/^\#define EDGECORE_VERSION_STRING "\(.*\)"/\1/p' include/edgecore.h)
MAJOR := $(firstword $(subst ., ,$(VERSION)))

ifeq ($(ARCH),x86_64)
  TOOLPREFIX :=
  SWIFT_TARGET_FLAGS :=
  ARCHIVE := .build-embedded/release/libEdgeCoreEmbedded.a
  SCRATCH := .build-embedded
  RUN :=
  TARGET_LIBPATH :=
  TARGET_LINK :=
else ifeq ($(ARCH),aarch64)
  TOOLPREFIX := aarch64-linux-gnu-
  SYSROOT_ARCH := arm64
  SWIFT_TARGET_FLAGS := --triple aarch64-none-none-elf --toolset toolchain/aarch64.json
  SCRATCH := .build-aarch64
  ARCHIVE := $(SCRATCH)/aarch64-none-none-elf/release/libEdgeCoreEmbedded.a
  RUN := qemu-aarch64-static -L /usr/aarch64-linux-gnu
  TARGET_LIBPATH := :$(CURDIR)/.build-sysroot/arm64/usr/lib/aarch64-linux-gnu
  TARGET_LINK := -L.build-sysroot/arm64/usr/lib/aarch64-linux-gnu -Wl,-rpath-link,.build-sysroot/arm64/usr/lib/aarch64-linux-gnu
else ifeq ($(ARCH),armv7)
  TOOLPREFIX := arm-linux-gnueabihf-
  SYSROOT_ARCH := armhf
  SWIFT_TARGET_FLAGS := --triple armv7-none-none-eabi --toolset toolchain/armv7.json
  SCRATCH := .build-armv7
  ARCHIVE := $(SCRATCH)/armv7-none-none-eabi/release/libEdgeCoreEmbedded.a
  RUN := qemu-arm-static -L /usr/arm-linux-gnueabihf
  TARGET_LIBPATH := :$(CURDIR)/.build-sysroot/armhf/usr/lib/arm-linux-gnueabihf
  TARGET_LINK := -L.build-sysroot/armhf/usr/lib/arm-linux-gnueabihf -Wl,-rpath-link,.build-sysroot/armhf/usr/lib/arm-linux-gnueabihf
else
  $(error ARCH must be x86_64, aarch64 or armv7, not '$(ARCH)')
endif

# libgpiod generation: 1 (libgpiod 1.6: Debian 12, Raspberry Pi OS) or 2 (2.x: Debian 13, Ubuntu 24.04),
# by default what pkg-config reports here (for ARM: 1, Debian 12's). GPIOD=2 on a machine or sysroot with
# 1.6 builds against libgpiod 2.1.3 from bookworm-backports (toolchain/make-sysroot.sh --gpiod2), into
# build/ARCH-gpiod2.
HOST_GPIOD := $(firstword $(subst ., ,$(shell pkg-config --modversion libgpiod 2>/dev/null)) 1)
ifeq ($(ARCH),x86_64)
  GPIOD ?= $(HOST_GPIOD)
  GPIOD_ARCH := amd64
  GPIOD_TRIPLET := x86_64-linux-gnu
  GPIOD_BACKPORT := $(if $(filter 2,$(GPIOD)),$(if $(filter 2,$(HOST_GPIOD)),,yes))
else
  GPIOD ?= 1
  GPIOD_ARCH := $(SYSROOT_ARCH)
  GPIOD_TRIPLET := $(if $(filter arm64,$(SYSROOT_ARCH)),aarch64-linux-gnu,arm-linux-gnueabihf)
  GPIOD_BACKPORT := $(if $(filter 2,$(GPIOD)),yes)
endif
ifeq ($(GPIOD),2)
  SCRATCH := $(SCRATCH)-gpiod2
  ARCHIVE := $(subst .build-embedded/,$(SCRATCH)/,$(subst $(SCRATCH:-gpiod2=)/,$(SCRATCH)/,$(ARCHIVE)))
  SUFFIX := -gpiod2
endif
ifneq ($(GPIOD_BACKPORT),)
  GPIOD_DIR := .build-sysroot/$(GPIOD_ARCH)-gpiod2
  # -rpath-link: programs linked against libEdgeCore.so (the tool, the examples) find its libgpiod.so.3 there
  TARGET_LINK := -L$(GPIOD_DIR)/usr/lib/$(GPIOD_TRIPLET) -Wl,-rpath-link,$(GPIOD_DIR)/usr/lib/$(GPIOD_TRIPLET) $(TARGET_LINK)
  TARGET_LIBPATH := :$(CURDIR)/$(GPIOD_DIR)/usr/lib/$(GPIOD_TRIPLET)$(TARGET_LIBPATH)
  ifeq ($(ARCH),x86_64)
    SWIFT_TARGET_FLAGS += -Xcc -isystem -Xcc $(GPIOD_DIR)/usr/include
  else
    # The toolset names the sysroot; a copy of it names the one with libgpiod 2.x instead.
    TOOLSET_GPIOD2 := build/toolset-$(ARCH)-gpiod2.json
    SWIFT_TARGET_FLAGS := $(subst toolchain/$(ARCH).json,$(TOOLSET_GPIOD2),$(SWIFT_TARGET_FLAGS))
  endif
endif

# GROWN=1 (test builds only, make abi-growth-test): the library as a later version whose structs each
# gained a trailing field (Tests/CABI/abi/grow-header.sh), into build/ARCH-grown.
ifeq ($(GROWN),1)
  SCRATCH := $(SCRATCH)-grown
  ARCHIVE := $(subst .build-embedded/,$(SCRATCH)/,$(ARCHIVE))
  SUFFIX := $(SUFFIX)-grown
  GROWN_ENV := EDGECORE_TEST_GROWN=1
endif

CC := $(TOOLPREFIX)gcc
CXX := $(TOOLPREFIX)g++
LD := $(TOOLPREFIX)ld
OBJCOPY := $(TOOLPREFIX)objcopy
STRIP := $(TOOLPREFIX)strip
OUT := build/$(ARCH)$(SUFFIX)
SO := $(OUT)/libEdgeCore.so.$(VERSION)
SONAME := libEdgeCore.so.$(MAJOR)
# What libEdgeCore links: the C libraries it wraps (only those it uses end up in NEEDED).
LIBS := -lmodbus -lyaml -lgpiod -lm
CABI_CFLAGS := -std=c11 -Wall -Wextra -Werror -pedantic -O2 -Iinclude
CABI_TESTS := $(patsubst Tests/CABI/%.c,$(OUT)/tests/%,$(wildcard Tests/CABI/*.c))

.PHONY: all lib examples tools man dist deb deb-test demo sysroot swift-test tsan-test asan-test fuzz fuzz-replay cabi-test abi-check abi-growth-test install-check integration-test journal-test journal-kill-test journal-kill-soak journal-full-test gpio-vm-test check module-map journal-crash-soak check-arch gateway-smoke install bench bench-journal bench-gateway bench-dlt645 clean FORCE

all: lib
lib: $(SO) $(OUT)/libEdgeCore.a $(OUT)/libEdgeCore.so

sysroot:
ifneq ($(ARCH),x86_64)
	toolchain/make-sysroot.sh $(SYSROOT_ARCH) >/dev/null
endif
ifneq ($(GPIOD_BACKPORT),)
	toolchain/make-sysroot.sh --gpiod2 $(GPIOD_ARCH) >/dev/null
endif
ifneq ($(TOOLSET_GPIOD2),)
	mkdir -p build
	sed 's|\.build-sysroot/$(SYSROOT_ARCH)/|.build-sysroot/$(SYSROOT_ARCH)-gpiod2/|g' toolchain/$(ARCH).json > $(TOOLSET_GPIOD2)
endif

# SwiftPM decides what is stale; this rule just always asks it. The old archive goes first: SwiftPM adds
# to an existing one, so the object of a renamed or deleted source file would stay in it.
$(ARCHIVE): FORCE sysroot
	rm -f $(ARCHIVE)
	$(if $(GROWN_ENV),Tests/CABI/abi/grow-header.sh include/edgecore.h build/abi-grown/edgecore.h)
	$(GROWN_ENV) EDGECORE_EMBEDDED=1 EDGECORE_GPIOD=$(GPIOD) $(SWIFT) build -c release $(SWIFT_TARGET_FLAGS) --scratch-path $(SCRATCH) \
	  --product EdgeCoreEmbedded

$(OUT)/exports.txt: include/edgecore.h toolchain/header-functions.sh
	mkdir -p $(OUT)
	toolchain/header-functions.sh > $@

$(SO): $(ARCHIVE) toolchain/edgecore.map
	mkdir -p $(OUT)
	$(CC) -shared -o $@ -Wl,--whole-archive $(ARCHIVE) -Wl,--no-whole-archive \
	  -Wl,--version-script=toolchain/edgecore.map -Wl,-soname,$(SONAME) -Wl,--gc-sections \
	  -Wl,-z,relro -Wl,-z,now -Wl,-z,noexecstack -Wl,-z,defs $(TARGET_LINK) -Wl,--as-needed $(LIBS)
	ln -sf $(notdir $@) $(OUT)/$(SONAME)

$(OUT)/libEdgeCore.so: $(SO)
	ln -sf $(SONAME) $@

# The static library is one pre-linked object whose only global symbols are the header's functions, so
# the Embedded runtime's helpers inside it cannot clash with anything in the firmware that links it.
$(OUT)/libEdgeCore.a: $(ARCHIVE) $(OUT)/exports.txt
	$(LD) -r --whole-archive $(ARCHIVE) -o $(OUT)/edgecore.o
	$(OBJCOPY) --keep-global-symbols=$(OUT)/exports.txt $(OUT)/edgecore.o
	rm -f $@ && $(TOOLPREFIX)ar rcs $@ $(OUT)/edgecore.o

# The example programs, linked against this tree's library (rpath), for the demo and for technicians.
EXAMPLES := $(OUT)/examples/edgecore_watch $(OUT)/examples/ring_demo $(OUT)/examples/site_simulator \
  $(OUT)/examples/edgecore_gateway $(OUT)/examples/greenhouse_controller
examples: lib $(EXAMPLES) tools

# The greenhouse controller's module (docs/greenhouse-controller.md), linked by its program and the gateway.
GREENHOUSE := examples/greenhouse_control.c examples/greenhouse_control.h

# The technicians' tool (tools/edgecore.c dispatches to tools/cmd_*.c; tools/tool.h is what they share),
# linked against this tree's library (rpath).
TOOLS := $(OUT)/tools/edgecore
TOOL_SOURCES := $(sort $(wildcard tools/*.c))
tools: lib $(TOOLS)
$(OUT)/tools/edgecore: $(TOOL_SOURCES) tools/tool.h include/edgecore.h $(SO)
	mkdir -p $(OUT)/tools
	$(CC) -std=c11 -Wall -Wextra -Werror -O2 -Iinclude -Itools -o $@ $(TOOL_SOURCES) -L$(OUT) -lEdgeCore -lm \
	  -Wl,-rpath,'$$ORIGIN/..' $(TARGET_LINK)

# What `make install` and the Debian packages ship of the tool and the gateway: the same sources linked
# without the build tree's rpath (they find libEdgeCore where the system's loader looks), hardened as
# Debian's packages are; stripped when installed.
DIST_CFLAGS := -std=c11 -Wall -Wextra -Werror -O2 -g -D_FORTIFY_SOURCE=2 -fstack-protector-strong -Iinclude
DIST_LDFLAGS := -Wl,-z,relro -Wl,-z,now -Wl,--as-needed $(TARGET_LINK)
dist: $(OUT)/dist/edgecore $(OUT)/dist/edgecore-gateway
$(OUT)/dist/edgecore: $(TOOL_SOURCES) tools/tool.h include/edgecore.h $(SO)
	mkdir -p $(OUT)/dist
	$(CC) $(DIST_CFLAGS) -Itools -o $@ $(TOOL_SOURCES) -L$(OUT) -lEdgeCore -lm $(DIST_LDFLAGS)
$(OUT)/dist/edgecore-gateway: examples/edgecore_gateway.c $(GREENHOUSE) include/edgecore.h $(SO)
	mkdir -p $(OUT)/dist
	$(CC) $(DIST_CFLAGS) $(GATEWAY_CFLAGS) -o $@ $< examples/greenhouse_control.c -L$(OUT) -lEdgeCore -lmosquitto -lssl -lcrypto -lpthread -lm \
	  $(DIST_LDFLAGS)

# The manual: one page per docs/man/*.md (format: docs/man/README.md).
MAN_SOURCES := $(filter-out docs/man/README.md,$(wildcard docs/man/*.md))
MAN_PAGES := $(patsubst docs/man/%.md,build/man/%,$(MAN_SOURCES))
man: $(MAN_PAGES)
build/man/%: docs/man/%.md scripts/mangen.py include/edgecore.h
	python3 scripts/mangen.py build/man $<

# The MQTT gateway also links Debian's libmosquitto and OpenSSL (which libmosquitto uses; the gateway
# checks its TLS files with it at start) (docs/gateway.md). Cross builds: OpenSSL's per-architecture
# headers from the sysroot.
GATEWAY_CFLAGS := $(if $(SYSROOT_ARCH),-isystem .build-sysroot/$(SYSROOT_ARCH)/usr/include/$(if $(filter arm64,$(SYSROOT_ARCH)),aarch64-linux-gnu,arm-linux-gnueabihf))
$(OUT)/examples/edgecore_gateway: examples/edgecore_gateway.c $(GREENHOUSE) include/edgecore.h $(SO)
	mkdir -p $(OUT)/examples
	$(CC) -std=c11 -Wall -Wextra -Werror -O2 -Iinclude $(GATEWAY_CFLAGS) -o $@ $< examples/greenhouse_control.c -L$(OUT) -lEdgeCore -lmosquitto \
	  -lssl -lcrypto -lpthread -lm -Wl,-rpath,'$$ORIGIN/..' $(TARGET_LINK)

# The greenhouse controller (docs/greenhouse-controller.md): the program and its module, libEdgeCore only.
$(OUT)/examples/greenhouse_controller: examples/greenhouse_controller.c $(GREENHOUSE) include/edgecore.h $(SO)
	mkdir -p $(OUT)/examples
	$(CC) -std=c11 -Wall -Wextra -Werror -O2 -Iinclude -o $@ $< examples/greenhouse_control.c -L$(OUT) -lEdgeCore \
	  -lm -Wl,-rpath,'$$ORIGIN/..' $(TARGET_LINK)

$(OUT)/examples/site_simulator: examples/site_simulator.c
	mkdir -p $(OUT)/examples
	$(CC) -std=c11 -Wall -Wextra -O2 -o $@ $< $(TARGET_LINK) -lmodbus -lm

$(OUT)/examples/%: examples/%.c include/edgecore.h $(SO)
	mkdir -p $(OUT)/examples
	$(CC) -std=c11 -Wall -Wextra -Werror -O2 -Iinclude -o $@ $< -L$(OUT) -lEdgeCore -lpthread -lm \
	  -Wl,-rpath,'$$ORIGIN/..' $(TARGET_LINK)

# The main job: a simulated site on 127.0.0.1 forwarded by the gateway through a local mosquitto, with a
# 10 s broker outage and the count check (scripts/demo.sh; scripts/demo.sh --watch: the live view).
demo:
	scripts/demo.sh

swift-test:
	$(SWIFT) test

# Sanitizers (normal-Swift builds, x86_64). Any report fails the run.
#   tsan-test  every Swift test under the thread sanitizer (EngineThreadTests drives the C functions from
#              several threads), then the C thread-rule scenarios (Tests/CABI/test_engine_threads.c) built
#              with clang -fsanitize=thread against libSanitizedEdgeCore.so, the library's normal-Swift build
#              under the thread sanitizer; kept in .build-tsan.
#   asan-test  every Swift test under the address sanitizer and LeakSanitizer; only the test framework's
#              own leaks are suppressed, by name (Tests/Sanitizers/lsan.supp); kept in .build-asan.
SWIFT_CLANG := $(dir $(shell readlink -f $$(command -v $(SWIFT))))clang
SANITIZER_RUNTIME := $(dir $(shell $(SWIFT_CLANG) -print-file-name=libclang_rt.tsan-x86_64.so 2>/dev/null))
SWIFT_RUNTIME := $(dir $(shell readlink -f $$(command -v $(SWIFT))))../lib/swift/linux
TSAN_RUN := TSAN_OPTIONS="halt_on_error=1 $(TSAN_OPTIONS)"

tsan-test:
	EDGECORE_JOURNAL_CUTS=200 $(TSAN_RUN) $(SWIFT) test --sanitize=thread --scratch-path .build-tsan
	$(SWIFT) build --sanitize=thread --scratch-path .build-tsan --product SanitizedEdgeCore
	mkdir -p build/tsan-tests
	$(SWIFT_CLANG) -std=c11 -Wall -Wextra -Werror -O1 -g -fsanitize=thread -shared-libsan -Iinclude \
	  -o build/tsan-tests/test_engine_threads Tests/CABI/test_engine_threads.c -L.build-tsan/debug -lSanitizedEdgeCore \
	  -lpthread -Wl,-rpath,$(CURDIR)/.build-tsan/debug -Wl,-rpath,$(SWIFT_RUNTIME) -Wl,-rpath,$(SANITIZER_RUNTIME)
	$(SWIFT_CLANG) -std=c11 -Wall -Wextra -Werror -O1 -g -fsanitize=thread -shared-libsan -Iinclude \
	  -o build/tsan-tests/test_local_bus Tests/CABI/test_local_bus.c -L.build-tsan/debug -lSanitizedEdgeCore \
	  -lpthread -Wl,-rpath,$(CURDIR)/.build-tsan/debug -Wl,-rpath,$(SWIFT_RUNTIME) -Wl,-rpath,$(SANITIZER_RUNTIME)
	$(TSAN_RUN) Tests/CABI/run.sh tsan_x86_64 "" build/tsan-tests/test_engine_threads build/tsan-tests/test_local_bus

asan-test:
	EDGECORE_JOURNAL_CUTS=200 LSAN_OPTIONS="suppressions=$(CURDIR)/Tests/Sanitizers/lsan.supp $(LSAN_OPTIONS)" \
	  $(SWIFT) test --sanitize=address --scratch-path .build-asan

# The journal's power-cut tests at full count (JournalCrashTests: every event of the small workload, and
# EDGECORE_JOURNAL_CUTS random cuts of random workloads; the test command runs 1,000, the sanitizer runs 200).
JOURNAL_CUTS ?= 10000
journal-crash-soak:
	EDGECORE_JOURNAL_CUTS=$(JOURNAL_CUTS) $(SWIFT) test --filter JournalCrashTests

# Fuzzing (fuzz/Makefile): the targets, and their corpus replayed once under the address sanitizer.
fuzz:
	$(MAKE) -C fuzz

fuzz-replay:
	$(MAKE) -C fuzz replay

$(OUT)/tests/%: Tests/CABI/%.c include/edgecore.h $(SO)
	mkdir -p $(OUT)/tests
	$(CC) $(CABI_CFLAGS) -o $@ $< -L$(OUT) -lEdgeCore -lpthread $(TARGET_LINK)

cabi-test: lib $(CABI_TESTS)
	LD_LIBRARY_PATH=$(CURDIR)/$(OUT)$(TARGET_LIBPATH) Tests/CABI/run.sh "$(ARCH)" "$(RUN)" $(CABI_TESTS)

abi-check: lib $(OUT)/exports.txt
	Tests/CABI/check-library.sh $(ARCH) $(OUT) $(TOOLPREFIX)

check-arch: abi-check cabi-test

# The growth rule of edgecore.h: programs built against earlier versions' frozen headers (Tests/CABI/abi/1.0,
# 1.2, 1.3) and this version's header run against a library whose structs all grew and against this version's
# library, and programs built against the grown header run against this version's library (x86_64).
ABI_TESTS := build/abi-tests
abi-growth-test:
	$(MAKE) lib ARCH=x86_64
	$(MAKE) lib ARCH=x86_64 GROWN=1
	mkdir -p $(ABI_TESTS)
	$(CC) $(filter-out -Iinclude,$(CABI_CFLAGS)) -ITests/CABI/abi/1.0 -ITests/CABI -o $(ABI_TESTS)/old_header Tests/CABI/abi/test_abi_growth.c \
	  -Lbuild/x86_64 -lEdgeCore -lpthread -lm
	$(CC) $(filter-out -Iinclude,$(CABI_CFLAGS)) -ITests/CABI/abi/1.2 -ITests/CABI -o $(ABI_TESTS)/header_1.2 Tests/CABI/abi/test_abi_growth.c \
	  -Lbuild/x86_64 -lEdgeCore -lpthread -lm
	$(CC) $(filter-out -Iinclude,$(CABI_CFLAGS)) -ITests/CABI/abi/1.3 -ITests/CABI -o $(ABI_TESTS)/header_1.3 Tests/CABI/abi/test_abi_growth.c \
	  -Lbuild/x86_64 -lEdgeCore -lpthread -lm
	$(CC) $(filter-out -Iinclude,$(CABI_CFLAGS)) -Ibuild/abi-grown -ITests/CABI -o $(ABI_TESTS)/grown_header Tests/CABI/abi/test_abi_growth.c \
	  -Lbuild/x86_64 -lEdgeCore -lpthread -lm
	$(CC) $(CABI_CFLAGS) -ITests/CABI -o $(ABI_TESTS)/this_header Tests/CABI/abi/test_abi_growth.c \
	  -Lbuild/x86_64 -lEdgeCore -lpthread -lm
	LD_LIBRARY_PATH=$(CURDIR)/build/x86_64-grown Tests/CABI/run.sh abi_old_on_grown "" $(ABI_TESTS)/old_header $(ABI_TESTS)/header_1.2 $(ABI_TESTS)/header_1.3 $(ABI_TESTS)/this_header
	LD_LIBRARY_PATH=$(CURDIR)/build/x86_64 Tests/CABI/run.sh abi_grown_on_old "" $(ABI_TESTS)/grown_header
	LD_LIBRARY_PATH=$(CURDIR)/build/x86_64 Tests/CABI/run.sh abi_same "" $(ABI_TESTS)/old_header $(ABI_TESTS)/header_1.2 $(ABI_TESTS)/header_1.3 $(ABI_TESTS)/this_header

install-check: lib
	Tests/CABI/check-install.sh

# Modbus against real peers (libmodbus and pymodbus servers, socat pty pairs), through the C API.
# `make check` runs the tool's tests (test_tool*.py) once: against the installed package in deb-test when
# this machine can install packages (root or passwordless sudo), else here against the build tree.
CAN_INSTALL := $(shell { [ "$$(id -u)" -eq 0 ] || sudo -n true 2>/dev/null; } && echo yes)
integration-test: lib examples
	Tests/Integration/run.sh $(if $(and $(CAN_INSTALL),$(TOOL_TESTS_IN_DEB)),--ignore-glob='*/test_tool*.py')

# The journal on real file systems (x86_64): kill -9 cycles of a writer process, a full tmpfs (root or a user
# namespace, Tests/Journal/run.sh).
JOURNAL_TESTS := $(OUT)/journal-tests
$(JOURNAL_TESTS)/%: Tests/Journal/%.c Tests/Journal/journal_test.h Tests/CABI/cabi_test.h include/edgecore.h $(SO)
	mkdir -p $(JOURNAL_TESTS)
	$(CC) $(CABI_CFLAGS) -ITests/CABI -o $@ $< -L$(OUT) -lEdgeCore -lpthread $(TARGET_LINK)

JOURNAL_RUN := LD_LIBRARY_PATH=$(CURDIR)/$(OUT)$(TARGET_LIBPATH) Tests/Journal/run.sh
journal-kill-test: lib $(JOURNAL_TESTS)/journal_kill
	$(JOURNAL_RUN) kill $(JOURNAL_TESTS)/journal_kill 100

journal-kill-soak: lib $(JOURNAL_TESTS)/journal_kill
	$(JOURNAL_RUN) kill $(JOURNAL_TESTS)/journal_kill 1000

journal-full-test: lib $(JOURNAL_TESTS)/journal_full
	$(JOURNAL_RUN) full $(JOURNAL_TESTS)/journal_full

journal-test: journal-kill-test journal-full-test

# The cross-built gateway under qemu-user against a private mosquitto and the simulated site (ARM only:
# x86_64's gateway is tested by the integration tests).
gateway-smoke: lib examples
	$(MAKE) examples ARCH=x86_64
	Tests/Integration/gateway_smoke.sh $(ARCH) "$(RUN)" $(CURDIR)/$(OUT)$(TARGET_LIBPATH)

# GPIO on a real kernel (qemu, gpio-sim): amd64 and arm64, libgpiod 1.6 and 2.x.
gpio-vm-test:
	Tests/GPIO/run-vm-tests.sh

# Sanitizer runs first: scripts/test.sh counts the last Swift test run, the plain one.
# Sources/EdgeCore's folders depend only downwards (the layer table of docs/design.md).
module-map:
	python3 toolchain/module-map.py

check: module-map tsan-test asan-test swift-test
	$(MAKE) fuzz-replay
	$(MAKE) check-arch ARCH=x86_64
	$(MAKE) abi-growth-test
	$(MAKE) install-check
	$(MAKE) integration-test TOOL_TESTS_IN_DEB=1
	$(MAKE) deb-test
	$(MAKE) journal-test ARCH=x86_64
	$(MAKE) gpio-vm-test
	$(MAKE) check-arch ARCH=aarch64
	$(MAKE) gateway-smoke ARCH=aarch64
	$(MAKE) check-arch ARCH=armv7
	$(MAKE) gateway-smoke ARCH=armv7
	$(MAKE) deb DEB_ARCHES="arm64 armhf"

install: lib dist man
	install -d $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(BINDIR) \
	  $(DESTDIR)$(DATADIR)/edgecore/profiles $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3 \
	  $(DESTDIR)$(DATADIR)/bash-completion/completions $(DESTDIR)$(SYSTEMDDIR) $(DESTDIR)$(SYSCONFDIR)/default
	install -m 644 include/edgecore.h $(DESTDIR)$(PREFIX)/include/
	install -m 644 $(SO) $(DESTDIR)$(LIBDIR)/
	$(STRIP) --strip-unneeded --remove-section=.comment $(DESTDIR)$(LIBDIR)/$(notdir $(SO))
	ln -sf $(notdir $(SO)) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libEdgeCore.so
	install -m 644 $(OUT)/libEdgeCore.a $(DESTDIR)$(LIBDIR)/
	$(STRIP) --strip-debug --remove-section=.comment $(DESTDIR)$(LIBDIR)/libEdgeCore.a
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@VERSION@|$(VERSION)|' \
	  toolchain/edgecore.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/edgecore.pc
	chmod 644 $(DESTDIR)$(LIBDIR)/pkgconfig/edgecore.pc
	install -m 755 $(OUT)/dist/edgecore $(OUT)/dist/edgecore-gateway $(DESTDIR)$(BINDIR)/
	$(STRIP) --strip-unneeded --remove-section=.comment --remove-section=.note $(DESTDIR)$(BINDIR)/edgecore \
	  $(DESTDIR)$(BINDIR)/edgecore-gateway
	install -m 644 profiles/*.yaml $(DESTDIR)$(DATADIR)/edgecore/profiles/
	install -m 644 $(filter %.1,$(MAN_PAGES)) $(DESTDIR)$(MANDIR)/man1/
	install -m 644 $(filter %.3,$(MAN_PAGES)) $(DESTDIR)$(MANDIR)/man3/
	install -m 644 tools/edgecore.bash $(DESTDIR)$(DATADIR)/bash-completion/completions/edgecore
	sed -e '1,/^\[Unit\]/{/^\[Unit\]/!d}' -e 's|^Documentation=.*|Documentation=man:edgecore-gateway(1)|' \
	  -e 's|/usr/local/bin/edgecore_gateway|$(BINDIR)/edgecore-gateway|' \
	  -e 's|/etc/default/edgecore-gateway|$(SYSCONFDIR)/default/edgecore-gateway|' \
	  examples/edgecore-gateway.service > $(DESTDIR)$(SYSTEMDDIR)/edgecore-gateway.service.tmp
	{ echo '# EdgeCore gateway (edgecore-gateway(1)): settings in $(SYSCONFDIR)/default/edgecore-gateway,'; \
	  echo '# then: systemctl enable --now edgecore-gateway (docs/packaging.md).'; \
	  cat $(DESTDIR)$(SYSTEMDDIR)/edgecore-gateway.service.tmp; } > $(DESTDIR)$(SYSTEMDDIR)/edgecore-gateway.service
	rm $(DESTDIR)$(SYSTEMDDIR)/edgecore-gateway.service.tmp
	chmod 644 $(DESTDIR)$(SYSTEMDDIR)/edgecore-gateway.service
	install -d $(DESTDIR)$(PREFIX)/lib/sysusers.d
	install -m 644 examples/edgecore-gateway.sysusers $(DESTDIR)$(PREFIX)/lib/sysusers.d/edgecore-tools.conf
	[ -e $(DESTDIR)$(SYSCONFDIR)/default/edgecore-gateway ] || \
	  install -m 644 examples/edgecore-gateway.default $(DESTDIR)$(SYSCONFDIR)/default/edgecore-gateway

# Debian packages (scripts/make-deb.sh; docs/packaging.md): libedgecoreN, libedgecore-dev, edgecore-tools.
DEB_ARCHES ?= amd64 arm64 armhf
deb:
	scripts/make-deb.sh $(DEB_ARCHES)

# The amd64 packages installed on this machine (apt), tested, purged (Tests/Packaging/test-deb.sh; root or
# passwordless sudo, else skipped).
deb-test:
	Tests/Packaging/test-deb.sh

bench:
	$(MAKE) lib ARCH=x86_64
	$(MAKE) lib ARCH=aarch64
	$(MAKE) -C benchmarks ring

bench-journal:
	$(MAKE) lib ARCH=x86_64
	$(MAKE) -C benchmarks journal

bench-gateway:
	$(MAKE) examples ARCH=x86_64
	$(MAKE) -C benchmarks gateway

bench-dlt645:
	$(MAKE) lib ARCH=x86_64
	$(MAKE) -C benchmarks dlt645

clean:
	rm -rf build .build .build-embedded .build-embedded-grown .build-aarch64 .build-armv7 .build-tsan .build-asan \
	  .build-fuzz .build-fuzz-libmodbus

FORCE:
