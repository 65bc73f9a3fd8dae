.POSIX:
.SUFFIXES:

include config.mk

# LIBOBJ: every program's; KEEPOBJ: the keeper's alone (the only code
# that opens Berkeley DB or reads the master key); CLIOBJ: its clients'.
LIBOBJ = lib/diag.o lib/secmem.o lib/conf.o lib/proto.o lib/exec.o
KEEPOBJ = lib/seal.o lib/vault.o lib/rules.o lib/hook.o lib/v_vault.o \
	lib/v_token.o lib/v_connect.o lib/v_metrics.o lib/job.o
CLIOBJ = lib/vaultc.o
DOCOBJ = lib/doc.o
NETOBJ = $(DOCOBJ) lib/url.o lib/http.o lib/oauth.o
CGI = cgi-bin/fa-dashboard
KEEPER = bin/fa-vaultd
BIN = bin/fa-authurl bin/fa-exchange bin/fa-refresh-full bin/fa-revoke \
	bin/fa-prefetch
FRONT = bin/fa-refresh bin/fa-vault
MAN1 = man/fa-vault.1 man/fa-authurl.1 man/fa-exchange.1 man/fa-refresh.1 \
	man/fa-revoke.1 man/fa-prefetch.1
MAN5 = man/fa.conf.5
MAN7 = man/fa.7
MAN8 = man/fa-dashboard.8 man/fa-vaultd.8
TESTBIN = t/rawdb t/procscan t/ratewin t/secmem t/victim t/flip.so \
	t/auditgen t/scfault.so

DEBS = libcurl4-openssl-dev libsodium-dev libdb5.3-dev db5.3-util \
	libjansson-dev jq mandoc curl python3 util-linux xxd perl lighttpd \
	chromium nodejs clang libclang-rt-14-dev strace procps prometheus \
	prometheus-node-exporter spin

all: $(KEEPER) $(BIN) $(FRONT) $(CGI) $(TESTBIN)

ALLCFLAGS = $(CFLAGS) $(SODIUM_CFLAGS) $(JANSSON_CFLAGS) $(CURL_CFLAGS) -Ilib \
	-DFA_BINDIR=\"$(PREFIX)/bin\"
LIBS = $(LDFLAGS) $(STATIC_LIBS)
CLILIBS = $(LDFLAGS) $(CLIENT_LIBS)

.SUFFIXES: .c .o
.c.o:
	$(CC) $(ALLCFLAGS) -c -o $@ $<

$(LIBOBJ) $(KEEPOBJ) $(CLIOBJ) $(NETOBJ) lib/cgi.o: lib/*.h

# One program, one .c; none links libcurl: lib/http.c loads it with
# dlopen(3) when a request is made. Only the keeper links Berkeley DB.
bin/fa-vaultd: bin/fa-vaultd.c $(LIBOBJ) $(KEEPOBJ) $(NETOBJ)
	$(CC) $(ALLCFLAGS) -o $@ bin/fa-vaultd.c $(LIBOBJ) $(KEEPOBJ) \
	    $(NETOBJ) -Wl,--wrap=connect,--wrap=accept $(LIBS)
bin/fa-authurl: bin/fa-authurl.c
bin/fa-exchange: bin/fa-exchange.c
bin/fa-refresh-full: bin/fa-refresh-full.c
bin/fa-prefetch: bin/fa-prefetch.c
bin/fa-revoke: bin/fa-revoke.c
$(BIN): $(LIBOBJ) $(CLIOBJ) $(NETOBJ) lib/*.h
	$(CC) $(ALLCFLAGS) -o $@ $@.c $(LIBOBJ) $(CLIOBJ) $(NETOBJ) \
	    $(CLILIBS)

# fa-refresh, the fresh-token path, execs fa-refresh-full for the rest;
# fa-vault asks fa-revoke for what needs the network. Neither loads
# libcurl, so both link statically (config.mk).
bin/fa-refresh: bin/fa-refresh.c $(LIBOBJ) $(CLIOBJ) lib/*.h
	$(CC) $(ALLCFLAGS) -o $@ bin/fa-refresh.c $(LIBOBJ) $(CLIOBJ) \
	    $(LDFLAGS) $(FAST_LIBS)
bin/fa-vault: bin/fa-vault.c $(LIBOBJ) $(CLIOBJ) $(DOCOBJ) lib/*.h
	$(CC) $(ALLCFLAGS) -o $@ bin/fa-vault.c $(LIBOBJ) $(CLIOBJ) \
	    $(DOCOBJ) $(LDFLAGS) $(FAST_LIBS)

cgi-bin/fa-dashboard: cgi-bin/fa-dashboard.c lib/cgi.o lib/url.o \
	$(LIBOBJ) $(CLIOBJ)
	$(CC) $(ALLCFLAGS) -o $@ cgi-bin/fa-dashboard.c lib/cgi.o \
	    $(LIBOBJ) $(CLIOBJ) lib/url.o $(LDFLAGS) $(FAST_LIBS)

t/rawdb: t/rawdb.c $(LIBOBJ) $(KEEPOBJ) $(NETOBJ)
	$(CC) $(ALLCFLAGS) -o $@ t/rawdb.c $(LIBOBJ) $(KEEPOBJ) $(NETOBJ) \
	    $(LIBS)
t/auditgen: t/auditgen.c $(LIBOBJ) $(KEEPOBJ) $(NETOBJ)
	$(CC) $(ALLCFLAGS) -Wl,--wrap=fa_now -o $@ t/auditgen.c $(LIBOBJ) \
	    $(KEEPOBJ) $(NETOBJ) $(LIBS)
t/ratewin: t/ratewin.c $(LIBOBJ) $(KEEPOBJ) $(NETOBJ)
	$(CC) $(ALLCFLAGS) -o $@ t/ratewin.c $(LIBOBJ) $(KEEPOBJ) $(NETOBJ) \
	    $(LIBS)
t/secmem: t/secmem.c lib/diag.o lib/secmem.o
	$(CC) $(ALLCFLAGS) -o $@ t/secmem.c lib/diag.o lib/secmem.o $(LIBS)
t/procscan: t/procscan.c
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ t/procscan.c
t/victim: t/victim.c
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ t/victim.c
# Preloaded into a keeper; never built with the sanitizers, whose
# runtime must come first.
t/flip.so: t/flip.c
	$(CC) -std=c11 -O2 -Wall -Wextra -shared -fPIC -o $@ t/flip.c -ldl
t/scfault.so: t/scfault.c
	$(CC) -std=c11 -O2 -Wall -Wextra -shared -fPIC -o $@ t/scfault.c -ldl

deps:
	@./t/debs $(DEBS)
	@# The browser test's driver; the browser is Debian's chromium.
	@# npm: Debian's own package, unless a nodejs that brings it is there.
	@command -v npm >/dev/null || ./t/debs npm
	@# axe-core: the accessibility checks the browser test runs.
	@[ -d t/browser/node_modules/playwright-core ] && \
	    [ -d t/browser/node_modules/axe-core ] || \
	    (cd t/browser && npm ci --no-audit --no-fund >/dev/null)

demo: deps
	$(MAKE) all
	./t/demo

# make bench: the figures of BENCH.md, about 20 minutes; not run by CI.
# BIG: the bindings of the big vault of figure 2. BENCHDEBS: the build's
# and the stand-in's, and wrk pass gnupg time eatmydata strace (README).
BIG = 1000000
BENCHBIN = bench/load bench/tm bench/floor
BENCHDEBS = libcurl4-openssl-dev libsodium-dev libdb5.3-dev db5.3-util \
	libjansson-dev jq curl python3 lighttpd wrk pass gnupg time \
	eatmydata strace
bench/load: bench/load.c $(LIBOBJ) $(KEEPOBJ) $(NETOBJ) lib/*.h
	$(CC) $(ALLCFLAGS) -o $@ bench/load.c $(LIBOBJ) $(KEEPOBJ) \
	    $(NETOBJ) $(LIBS)
bench/tm: bench/tm.c
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ bench/tm.c
bench/floor: bench/floor.c
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ bench/floor.c
bench:
	@./t/debs $(BENCHDEBS)
	$(MAKE) all $(BENCHBIN)
	BIG=$(BIG) ./bench/run

# The slowest tests first, so that prove -j ends on short ones.
SLOWT = t/0810-syscall-faults.t t/0610-repl-storm.t t/0600-repl.t \
	t/0740-audit-retention.t t/0225-lease-finish.t t/0800-model.t
TESTS = $(SLOWT) $(filter-out $(SLOWT),$(sort $(wildcard t/*.t)))

# The plain run waits on timers and children about as much as it
# computes: the sanitizer copy and the fuzz targets build beside it.
check: deps
	$(MAKE) all
	rm -f .fails .build.log .build.st
	($(MAKE) asan $(FUZZ) >.build.log 2>&1; echo $$? >.build.st) & b=$$!; \
	FA_FAILS=`pwd`/.fails prove --timer -j3 $(TESTS); r=$$?; wait $$b; \
	[ "`cat .build.st`" = 0 ] || { tail -40 .build.log; \
	    echo "check: the sanitizer or fuzz build failed (.build.log)"; \
	    [ $$r -eq 0 ] || ./t/fails .fails; exit 1; }; \
	[ $$r -eq 0 ] || ./t/fails .fails
	$(MAKE) asan-run
	$(MAKE) check-fuzz

# The full-depth runs: the models of t/model/ with larger budgets than
# make check gives them (t/0800-model.t, FA_MODEL_FULL=1), and every k of
# every system call of the write path failed (t/0810, FULL=1): about 50
# minutes.
prove: deps
	$(MAKE) all
	FA_MODEL_FULL=1 prove -v t/0800-model.t
	FULL=1 prove -v t/0810-syscall-faults.t
.PHONY: prove

# The whole suite again against a copy built with AddressSanitizer and
# UndefinedBehaviorSanitizer; any report in .asan/log fails it.
ASAN = -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
check-asan: deps
	$(MAKE) asan
	$(MAKE) asan-run
asan:
	rm -rf .asan
	mkdir -p .asan/t .asan/log
	cp -R Makefile config.mk lib bin cgi-bin .asan/
	cp t/rawdb.c t/auditgen.c t/procscan.c t/ratewin.c t/secmem.c t/victim.c \
	    t/flip.c t/scfault.c t/takeover.h .asan/t/
	cd .asan && $(MAKE) clean >/dev/null && \
	    $(MAKE) CC=clang SANFLAGS='$(ASAN)' FAST_LIBS='$(CLIENT_LIBS)' all
asan-run:
	@# A tenth of the million audit records of t/0740: as slow as the
	@# sanitizers make it, the million is the plain run's.
	FA_BUILD=`pwd`/.asan AUDITN=100000 \
	ASAN_OPTIONS=log_path=`pwd`/.asan/log/asan \
	LSAN_OPTIONS=suppressions=`pwd`/t/lsan.supp:print_suppressions=0 \
	UBSAN_OPTIONS=log_path=`pwd`/.asan/log/ubsan:print_stacktrace=1 \
	FA_FAILS=`pwd`/.asan/fails prove --timer -j3 $(TESTS) || \
	    ./t/fails .asan/fails .asan/log
	@# Reports, not warnings ("Unable to get registers from thread"
	@# when LeakSanitizer meets a thread that is going away).
	@if grep -l 'ERROR: \|runtime error' .asan/log/* >/dev/null 2>&1; \
	    then cat .asan/log/*; \
	    echo "check-asan: sanitizer reports above"; exit 1; fi


install: all
	mkdir -p $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(MANPREFIX)/man1 \
	    $(DESTDIR)$(MANPREFIX)/man5 $(DESTDIR)$(MANPREFIX)/man7 \
	    $(DESTDIR)$(MANPREFIX)/man8 $(DESTDIR)$(PREFIX)/lib/fa
	cp -f $(KEEPER) $(BIN) $(FRONT) $(DESTDIR)$(PREFIX)/bin/
	cp -f $(MAN1) $(DESTDIR)$(MANPREFIX)/man1/
	ln -sf fa-refresh.1 $(DESTDIR)$(MANPREFIX)/man1/fa-refresh-full.1
	cp -f $(MAN5) $(DESTDIR)$(MANPREFIX)/man5/
	cp -f $(MAN7) $(DESTDIR)$(MANPREFIX)/man7/
	cp -f $(MAN8) $(DESTDIR)$(MANPREFIX)/man8/
	cp -f $(CGI) $(DESTDIR)$(PREFIX)/lib/fa/
	mkdir -p $(DESTDIR)/etc/cron.d
	sed 's|/usr/local|$(PREFIX)|g' cron.d/fa >$(DESTDIR)/etc/cron.d/fa
	mkdir -p $(DESTDIR)/lib/systemd/system
	sed 's|/usr/local|$(PREFIX)|g' fa-vaultd.service \
	    >$(DESTDIR)/lib/systemd/system/fa-vaultd.service

uninstall:
	for f in $(KEEPER) $(BIN) $(FRONT); do rm -f $(DESTDIR)$(PREFIX)/$$f; done
	rm -f $(DESTDIR)$(PREFIX)/lib/fa/fa-dashboard \
	    $(DESTDIR)$(MANPREFIX)/man1/fa-refresh-full.1
	for f in $(MAN1) $(MAN5) $(MAN7) $(MAN8); do \
	    rm -f $(DESTDIR)$(MANPREFIX)/man$${f##*.}/$${f#man/}; done
	rm -f $(DESTDIR)/etc/cron.d/fa
	rm -f $(DESTDIR)/lib/systemd/system/fa-vaultd.service

# libFuzzer targets, one for each parser of untrusted input (fuzz/*.c),
# linked with their own instrumented copy of lib/ in fuzz/obj.
# check-fuzz: a fixed seed and number of runs (target:runs, a few s
# each) over a copy of the committed corpus fuzz/corpus/TARGET.
# fuzz: FUZZTIME seconds each (a minute: ten minutes for the ten
# targets); new inputs go to fuzz/scratch/TARGET.
# Either way an input that fails is kept as fuzz/scratch/TARGET-crash-*.
FUZZCC = clang
FUZZFLAGS = -std=c11 -g -O1 -Wall -Wextra -D_GNU_SOURCE \
	-fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
FUZZ = fuzz/query fuzz/cookie fuzz/link fuzz/token fuzz/fadoc fuzz/conf \
	fuzz/seal fuzz/http fuzz/bundle fuzz/proto
FUZZOBJ = fuzz/obj/diag.o fuzz/obj/secmem.o fuzz/obj/conf.o \
	fuzz/obj/seal.o fuzz/obj/url.o fuzz/obj/http.o fuzz/obj/oauth.o \
	fuzz/obj/doc.o fuzz/obj/cgi.o fuzz/obj/proto.o fuzz/obj/exec.o \
	fuzz/obj/vault.o
FUZZRUNS = query:300000 cookie:750000 link:500000 token:30000 \
	fadoc:15000 conf:250000 seal:450000 http:80000 bundle:80000 \
	proto:150000
FUZZTIME = 60
FUZZOPT = -max_len=8192 -timeout=25	# and in fuzz/check

$(FUZZOBJ): lib/*.c lib/*.h
	@mkdir -p fuzz/obj
	$(FUZZCC) $(FUZZFLAGS) $(SODIUM_CFLAGS) $(JANSSON_CFLAGS) \
	    $(CURL_CFLAGS) -Ilib -DFA_BINDIR=\"$(PREFIX)/bin\" -c -o $@ \
	    lib/`basename $@ .o`.c
fuzz/query: fuzz/query.c
fuzz/cookie: fuzz/cookie.c
fuzz/link: fuzz/link.c
fuzz/token: fuzz/token.c
fuzz/fadoc: fuzz/fadoc.c
fuzz/conf: fuzz/conf.c
fuzz/seal: fuzz/seal.c
fuzz/http: fuzz/http.c
fuzz/bundle: fuzz/bundle.c
fuzz/proto: fuzz/proto.c
$(FUZZ): $(FUZZOBJ) lib/*.h
	$(FUZZCC) $(FUZZFLAGS) $(SODIUM_CFLAGS) $(JANSSON_CFLAGS) -Ilib \
	    -o $@ $@.c $(FUZZOBJ) $(SODIUM_LIBS) $(JANSSON_LIBS) $(DB_LIBS)

check-fuzz: deps $(FUZZ)
	./fuzz/check $(FUZZRUNS)

fuzz: $(FUZZ)
	@fail=0; for t in $(FUZZ); do t=`basename $$t`; \
	    mkdir -p fuzz/scratch/$$t; \
	    dict=; [ -f fuzz/$$t.dict ] && dict=-dict=fuzz/$$t.dict; \
	    if ./fuzz/$$t -max_total_time=$(FUZZTIME) $(FUZZOPT) $$dict \
	        -artifact_prefix=fuzz/scratch/$$t- fuzz/scratch/$$t \
	        fuzz/corpus/$$t >fuzz/scratch/$$t.log 2>&1; \
	    then echo "fuzz/$$t: `grep '^Done' fuzz/scratch/$$t.log`"; \
	    else tail -60 fuzz/scratch/$$t.log; fail=1; \
	        echo "fuzz: fuzz/$$t failed; input in fuzz/scratch/"; fi; \
	    done; exit $$fail

.PHONY: check-fuzz fuzz

clean:
	rm -f $(KEEPER) $(BIN) $(FRONT) $(CGI) $(TESTBIN) $(BENCHBIN) lib/*.o
	rm -rf $(FUZZ) fuzz/obj

.PHONY: all deps check check-asan asan asan-run demo bench install uninstall clean
