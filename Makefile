# Tresor build. `make` builds bin/tresord and bin/tresor; `make test` installs what is missing,
# builds, lints and runs every suite (plain and under ASan+UBSan); `make run` starts a dev server.
# SAN=1 builds the same tree with sanitizers into build-san/.

CC      ?= cc
SAN     ?= 0
PKGS    := openssl libsodium lmdb libevent libevent_openssl libevent_pthreads yaml-0.1 jansson \
           tss2-esys tss2-sys tss2-mu tss2-tctildr tss2-rc
CLIPKGS := openssl libevent libevent_openssl jansson yaml-0.1

# BUILD=dir gives a private build tree (e.g. for parallel work); bin/ is the default's.
ifeq ($(SAN),1)
BUILD   ?= build-san
BINDIR  ?= $(BUILD)/bin
OPT     := -O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
SANDEF  := -DTR_SANITIZE_BUILD=1
else
BUILD   ?= build
BINDIR  ?= $(if $(filter build,$(BUILD)),bin,$(BUILD)/bin)
OPT     := -O2 -g -D_FORTIFY_SOURCE=2
SANDEF  := -DTR_SANITIZE_BUILD=0
endif

WARN     := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes -Wmissing-prototypes
HARDEN   := -fstack-protector-strong -fPIE
CPPFLAGS += -D_GNU_SOURCE $(SANDEF) -MMD -MP
CFLAGS   += -std=c11 $(OPT) $(WARN) $(HARDEN) $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDFLAGS  += $(OPT) -pie -Wl,-z,relro,-z,now
LDLIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread
CLILIBS  := $(shell pkg-config --libs $(CLIPKGS) 2>/dev/null) -lpthread
TESTLIBS := $(shell pkg-config --libs cmocka 2>/dev/null)

COMMON_SRC  := $(wildcard common/*.c)
ENCLAVE_SRC := $(wildcard enclave/*.c)
STORAGE_SRC := $(wildcard storage/*.c)
API_SRC     := $(wildcard api/*.c)
SERVER_SRC  := $(filter-out server/main.c,$(wildcard server/*.c))
CLI_SRC     := $(wildcard cli/*.c)
UNIT_SRC    := $(wildcard tests/unit/test_*.c)
TEST_SUPPORT_SRC := $(wildcard tests/support/*.c)

obj = $(patsubst %.c,$(BUILD)/%.o,$(1))

ENCLAVE_OBJ := $(BUILD)/enclave.o
CORE_OBJ    := $(call obj,$(COMMON_SRC) $(STORAGE_SRC) $(API_SRC) $(SERVER_SRC))
CORE_LIB    := $(BUILD)/libtresor.a
UNIT_BINS   := $(patsubst tests/unit/%.c,$(BUILD)/tests/%,$(UNIT_SRC))

.PHONY: all deps run test suites unit lint deploy-check clean
all: $(BINDIR)/tresord $(BINDIR)/tresor

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -c $< -o $@

# The trusted core is linked into one relocatable object whose hidden symbols are made local, so
# only the entry points that enclave/enclave.h marks ENC_API stay visible (checked by lint).
$(BUILD)/enclave/%.o: enclave/%.c
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) -fvisibility=hidden -c $< -o $@

$(ENCLAVE_OBJ): $(call obj,$(ENCLAVE_SRC))
	$(LD) -r $^ -o $@.tmp
	objcopy --localize-hidden $@.tmp $@
	rm -f $@.tmp

$(CORE_LIB): $(CORE_OBJ)
	rm -f $@
	$(AR) rcs $@ $^

$(BINDIR)/tresord: $(BUILD)/server/main.o $(CORE_LIB) $(if $(ENCLAVE_SRC),$(ENCLAVE_OBJ))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $(BUILD)/server/main.o $(if $(ENCLAVE_SRC),$(ENCLAVE_OBJ)) $(CORE_LIB) -o $@ $(LDLIBS)

# The CLI links only common/ and its own code: it talks to the server over HTTP.
$(BINDIR)/tresor: $(call obj,$(CLI_SRC) $(COMMON_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $^ -o $@ $(CLILIBS)

# Unit tests link the enclave's separate objects, so internal modules (shamir, providers) can be
# tested directly; the daemon only ever sees enclave.o's listed entry points.
$(BUILD)/tests/%: $(BUILD)/tests/unit/%.o $(call obj,$(TEST_SUPPORT_SRC)) $(CORE_LIB) $(call obj,$(ENCLAVE_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $< $(call obj,$(TEST_SUPPORT_SRC)) $(call obj,$(ENCLAVE_SRC)) $(CORE_LIB) -o $@ $(TESTLIBS) $(LDLIBS)

unit: $(UNIT_BINS)

# Benchmarks (bench/): storage_bench links like a unit test; `make bench` runs every bench
# script (each bounded in time, 127.0.0.1 only) and prints ratios against same-run baselines.
.PHONY: bench-build bench
bench-build: $(BUILD)/bench/storage_bench $(BINDIR)/tresord

$(BUILD)/bench/storage_bench: $(BUILD)/bench/storage_bench.o $(CORE_LIB) $(call obj,$(ENCLAVE_SRC))
	@mkdir -p $(dir $@)
	$(CC) $(LDFLAGS) $< $(call obj,$(ENCLAVE_SRC)) $(CORE_LIB) -o $@ $(LDLIBS)

bench:
	@BUILD=$(BUILD) BINDIR=$(BINDIR) sh bench/run-all.sh

# libFuzzer harnesses (fuzz/, docs/fuzzing.md), built with clang into $(BUILD)/fuzz/: the library
# is compiled again there with coverage instrumentation and ASan+UBSan (the gcc trees are not
# touched). `make fuzz FUZZ_SECS=60` runs each harness in turn on its corpus; `make fuzz-regress`
# replays the committed corpora only (a few seconds; part of `make test`).
.PHONY: fuzz-build fuzz fuzz-regress fuzz-harnesses
FUZZ_CC    ?= clang
FUZZ_SECS  ?= 60
FUZZ_OUT   ?= $(BUILD)/fuzz
FUZZ_BINS  := $(patsubst fuzz/fuzz_%.c,$(FUZZ_OUT)/fuzz_%,$(wildcard fuzz/fuzz_*.c))
# Warnings only clang knows must not stop fuzzing code gcc accepts; the harnesses stay -Werror.
FUZZ_OPT   := -O1 -g -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined \
              -fno-sanitize-recover=all

fuzz-build:
	@$(MAKE) --no-print-directory CC=$(FUZZ_CC) BUILD=$(FUZZ_OUT)/obj FUZZ_OUT=$(FUZZ_OUT) \
	    OPT="$(FUZZ_OPT)" WARN="$(WARN) -Wno-error" SANDEF=-DTR_SANITIZE_BUILD=1 fuzz-harnesses

fuzz-harnesses: $(FUZZ_BINS)

$(BUILD)/fuzz/%.o: CFLAGS += -Werror

$(FUZZ_BINS): $(FUZZ_OUT)/%: $(BUILD)/fuzz/%.o $(BUILD)/fuzz/util.o $(CORE_LIB) \
              $(call obj,$(ENCLAVE_SRC))
	$(CC) $(LDFLAGS) -fsanitize=fuzzer $< $(BUILD)/fuzz/util.o $(call obj,$(ENCLAVE_SRC)) \
	    $(CORE_LIB) -o $@ $(LDLIBS)

fuzz: fuzz-build
	@sh fuzz/run.sh $(FUZZ_OUT) $(FUZZ_SECS)

fuzz-regress: fuzz-build
	@sh fuzz/run.sh $(FUZZ_OUT) 0

deps:
	@sh mk/deps.sh

lint: all
	@sh mk/lint.sh $(BUILD)

# One build flavour's suites: unit binaries then integration scripts (used by mk/test.sh).
suites: all unit
	@sh tests/run.sh $(BUILD) $(BINDIR)

test: deps
	@sh mk/test.sh

# Recursive so a fresh machine's first run sees the pkg-config flags deps just made available.
run: deps
	@$(MAKE) --no-print-directory all
	./$(BINDIR)/tresord -dev

deploy-check:
	@sh mk/deploy-check.sh

clean:
	rm -rf build build-san bin

-include $(shell find $(BUILD) -name '*.d' 2>/dev/null)
