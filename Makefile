# asrfs - Azure-Site-Recovery-style disaster recovery through a FUSE filesystem.
#
#   make            build/asrfs and build/asrfs-delta
#   make run        install deps, build, prepare the demo in ./var, mount at ./mnt/asr
#   make check      install deps, build, run unit and integration tests
#   make bench      delta engine benchmarks (docs/BENCHMARKS.md)
#   make bench-replication  replication's cost to the VM and the daemon:
#                   write latency, idle cycles, 1000 items (docs/BENCHMARKS.md;
#                   not part of make check)
#   make check SANITIZE=address,undefined   the same under sanitizers
#   make fuzz       libFuzzer targets into build/fuzz (clang; tests/fuzz/README.md)
#   make check-long the long runs: each fuzz target for FUZZ_SECONDS (300),
#                   then every kill point of the crash harness (docs/RELIABILITY.md)
#   make install    binaries, scripts, man pages, the systemd unit and examples
#                   under $(DESTDIR)$(PREFIX) (PREFIX=/usr/local; unit, plugin,
#                   doc and man directories follow PREFIX unless given)
#
# Layers call downward only: fs/ -> core/ -> sync/ -> backend/.  sync/ and
# backend/ make build/libsync.a (all asrfs-delta needs), core/ makes
# build/libcore.a; unit tests named test_core_* link both, others libsync.a.

CC       ?= cc
SANITIZE ?=
OPT      ?= -O2
BUILD    ?= build

PKGS      = fuse3 libcurl json-c libxxhash libcrypto libxml-2.0
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN     = -Wall -Wextra -Wshadow -Wformat=2 -Werror
CFLAGS  ?= $(OPT) -g
ALL_CFLAGS = -std=gnu17 $(WARN) $(CFLAGS) $(PKG_CFLAGS) -D_FILE_OFFSET_BITS=64 -pthread -MMD -MP
LDLIBS   = $(PKG_LIBS) -pthread -lm
ifneq ($(SANITIZE),)
ALL_CFLAGS += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all -DASRFS_LOCK_DEBUG
LDFLAGS    += -fsanitize=$(SANITIZE)
endif

SYNC_SRC  = $(filter-out sync/delta_main.c,$(wildcard backend/*.c sync/*.c))
CORE_SRC  = $(wildcard core/*.c)
FS_SRC    = $(wildcard fs/*.c)
UNIT_SRC  = $(wildcard tests/unit/test_*.c)

SYNC_OBJ  = $(SYNC_SRC:%.c=$(BUILD)/obj/%.o)
CORE_OBJ  = $(CORE_SRC:%.c=$(BUILD)/obj/%.o)
FS_OBJ    = $(FS_SRC:%.c=$(BUILD)/obj/%.o)
UNIT_BIN  = $(UNIT_SRC:tests/unit/%.c=$(BUILD)/tests/%)

.PHONY: all deps run check unit integration bench bench-replication clean distclean flags fuzz check-long install uninstall

all: $(BUILD)/asrfs $(BUILD)/asrfs-delta $(BUILD)/tests/errno-write $(BUILD)/tests/eio.so $(BUILD)/tests/latwriter

# Rebuild everything when the flags change (e.g. SANITIZE=...).
$(BUILD)/.flags: flags
	@mkdir -p $(BUILD)
	@echo '$(CC) $(ALL_CFLAGS) $(LDFLAGS)' | cmp -s - $@ || echo '$(CC) $(ALL_CFLAGS) $(LDFLAGS)' > $@

$(BUILD)/obj/%.o: %.c $(BUILD)/.flags
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/libsync.a: $(SYNC_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/libcore.a: $(CORE_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(BUILD)/asrfs: $(FS_OBJ) $(BUILD)/libcore.a $(BUILD)/libsync.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/asrfs-delta: $(BUILD)/obj/sync/delta_main.o $(BUILD)/libsync.a
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/test_core_%: $(BUILD)/obj/tests/unit/test_core_%.o $(BUILD)/libcore.a $(BUILD)/libsync.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/%: $(BUILD)/obj/tests/unit/%.o $(BUILD)/libsync.a
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/tests/errno-write: tests/errno-write.c $(BUILD)/.flags
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $<

# The replication benchmark's writer (scripts/bench-replication.sh).
$(BUILD)/tests/latwriter: tests/bench/latwriter.c $(BUILD)/.flags
	@mkdir -p $(dir $@)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $<

# The tests' faulty medium (LD_PRELOAD): plain flags, never a sanitizer,
# since it is loaded into processes built either way.
$(BUILD)/tests/eio.so: tests/shim/eio.c
	@mkdir -p $(dir $@)
	$(CC) -std=gnu17 $(WARN) -O2 -shared -fPIC -o $@ $< -ldl

# Fuzz targets: the same sources built by clang with libFuzzer, apart.
FUZZ_CC   ?= clang
FUZZ_OBJ   = $(SYNC_SRC:%.c=$(BUILD)/fuzz/obj/%.o) $(CORE_SRC:%.c=$(BUILD)/fuzz/obj/%.o) \
	     $(BUILD)/fuzz/obj/tests/fuzz/membe.o $(BUILD)/fuzz/obj/tests/fuzz/harness.o
FUZZ_BIN   = $(patsubst tests/fuzz/%.c,$(BUILD)/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))

$(BUILD)/fuzz/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(filter-out -O2 -fsanitize=%,$(ALL_CFLAGS)) -O1 -Wno-unknown-pragmas \
		-fsanitize=fuzzer-no-link,address,undefined -c $< -o $@

$(BUILD)/fuzz/fuzz_%: $(BUILD)/fuzz/obj/tests/fuzz/fuzz_%.o $(FUZZ_OBJ)
	$(FUZZ_CC) -fsanitize=fuzzer,address,undefined -o $@ $^ $(LDLIBS)

fuzz:
	@./scripts/install-deps.sh
	@$(MAKE) --no-print-directory $(FUZZ_BIN)

check-long: fuzz all
	@BUILD=$(BUILD) FUZZ_SECONDS=$${FUZZ_SECONDS:-300} ./tests/run.sh integration fuzz
	@BUILD=$(BUILD) ./tests/crash/crash.sh --long
	@BUILD=$(BUILD) ASRFS_CRASH_ALL=1 ./tests/run.sh integration reprotect_crash

deps:
	@./scripts/install-deps.sh

run: deps
	@$(MAKE) --no-print-directory all
	./scripts/run-demo.sh

check: deps
	@$(MAKE) --no-print-directory all $(UNIT_BIN)
	@BUILD=$(BUILD) ./tests/run.sh

unit: $(UNIT_BIN)
	@BUILD=$(BUILD) ./tests/run.sh unit

integration: all
	@BUILD=$(BUILD) ./tests/run.sh integration

bench: deps
	@$(MAKE) --no-print-directory all
	./scripts/bench.sh

bench-replication: deps
	@$(MAKE) --no-print-directory all
	@BUILD=$(BUILD) ./scripts/bench-replication.sh

# ---- install ----------------------------------------------------------
PREFIX     ?= /usr/local
DESTDIR    ?=
BINDIR     ?= $(PREFIX)/bin
SBINDIR    ?= $(PREFIX)/sbin
MANDIR     ?= $(PREFIX)/share/man
DOCDIR     ?= $(PREFIX)/share/doc/asrfs
UNITDIR    ?= $(PREFIX)/lib/systemd/system
PLUGINDIR  ?= $(PREFIX)/lib/nagios/plugins
FUSERMOUNT ?= $(or $(shell command -v fusermount3 2>/dev/null),/bin/fusermount3)
MOUNT_FUSE ?= $(or $(wildcard /sbin/mount.fuse3),$(wildcard /usr/sbin/mount.fuse3),/sbin/mount.fuse3)
# The operator's scripts (the demo, bench and set-up scripts stay in the tree).
INSTALL_SCRIPTS = $(wildcard scripts/asr-wait.sh scripts/asr-status scripts/asr-status.sh)
INSTALL_DOCS    = README.md $(wildcard docs/BEHAVIOUR.md docs/DESIGN.md docs/AZBLOB.md docs/METRICS.md)

install: $(BUILD)/asrfs $(BUILD)/asrfs-delta
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man8 \
		$(DESTDIR)$(UNITDIR) $(DESTDIR)$(PLUGINDIR) $(DESTDIR)$(DOCDIR)/examples
	install -m 0755 $(BUILD)/asrfs $(BUILD)/asrfs-delta $(INSTALL_SCRIPTS) $(DESTDIR)$(BINDIR)/
	install -m 0755 scripts/check_asrfs $(DESTDIR)$(PLUGINDIR)/check_asrfs
	install -m 0644 man/asrfs.8 $(DESTDIR)$(MANDIR)/man8/asrfs.8
	install -m 0644 man/asrfs-delta.1 $(DESTDIR)$(MANDIR)/man1/asrfs-delta.1
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@FUSERMOUNT@|$(FUSERMOUNT)|g' dist/asrfs@.service.in \
		>$(DESTDIR)$(UNITDIR)/asrfs@.service
	chmod 0644 $(DESTDIR)$(UNITDIR)/asrfs@.service
	ln -sf $(MOUNT_FUSE) $(DESTDIR)$(SBINDIR)/mount.fuse.asrfs
	install -m 0644 $(INSTALL_DOCS) $(DESTDIR)$(DOCDIR)/
	install -m 0644 dist/asrfs.json dist/fstab.example $(DESTDIR)$(DOCDIR)/examples/

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/asrfs $(DESTDIR)$(BINDIR)/asrfs-delta \
		$(addprefix $(DESTDIR)$(BINDIR)/,$(notdir $(INSTALL_SCRIPTS))) \
		$(DESTDIR)$(PLUGINDIR)/check_asrfs $(DESTDIR)$(SBINDIR)/mount.fuse.asrfs \
		$(DESTDIR)$(MANDIR)/man8/asrfs.8 $(DESTDIR)$(MANDIR)/man1/asrfs-delta.1 \
		$(DESTDIR)$(UNITDIR)/asrfs@.service
	rm -rf $(DESTDIR)$(DOCDIR)

clean:
	rm -rf $(BUILD)

distclean: clean
	rm -rf var mnt .cache

-include $(shell find $(BUILD)/obj $(BUILD)/fuzz/obj -name '*.d' 2>/dev/null)
