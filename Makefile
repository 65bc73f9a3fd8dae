.POSIX:
.SUFFIXES:

include config.mk

LIBOBJ = lib/diag.o lib/secmem.o lib/conf.o lib/seal.o lib/vault.o
NETOBJ = lib/url.o lib/http.o lib/oauth.o lib/hook.o
CGI = cgi-bin/fa-dashboard
BIN = bin/fa-vault bin/fa-authurl bin/fa-exchange bin/fa-refresh bin/fa-revoke \
	bin/fa-prefetch
MAN1 = man/fa-vault.1 man/fa-authurl.1 man/fa-exchange.1 man/fa-refresh.1 \
	man/fa-revoke.1 man/fa-prefetch.1
MAN5 = man/fa.conf.5
MAN7 = man/fa.7
MAN8 = man/fa-dashboard.8
TESTBIN = t/rawdb

DEBS = libcurl4-openssl-dev libsodium-dev libdb5.3-dev db5.3-util \
	libjansson-dev jq mandoc curl python3 util-linux xxd perl lighttpd \
	chromium nodejs

all: $(BIN) $(CGI) $(TESTBIN)

ALLCFLAGS = $(CFLAGS) $(SODIUM_CFLAGS) $(JANSSON_CFLAGS) $(CURL_CFLAGS) -Ilib
LIBS = $(LDFLAGS) $(SODIUM_LIBS) $(JANSSON_LIBS) $(DB_LIBS)

.SUFFIXES: .c .o
.c.o:
	$(CC) $(ALLCFLAGS) -c -o $@ $<

lib/diag.o: lib/diag.h
lib/secmem.o: lib/secmem.h lib/diag.h
lib/conf.o: lib/conf.h lib/diag.h
lib/seal.o: lib/seal.h lib/secmem.h lib/diag.h
lib/vault.o: lib/vault.h lib/seal.h lib/conf.h lib/secmem.h lib/diag.h
lib/url.o: lib/url.h lib/diag.h
lib/http.o: lib/http.h lib/url.h lib/conf.h lib/secmem.h lib/diag.h
lib/hook.o: lib/hook.h lib/conf.h lib/diag.h
lib/oauth.o: lib/oauth.h lib/http.h lib/url.h lib/vault.h lib/conf.h \
	lib/secmem.h lib/diag.h

# One program, one .c; none links libcurl: lib/http.c loads it with
# dlopen(3) when a request is made.
bin/fa-vault: bin/fa-vault.c
bin/fa-authurl: bin/fa-authurl.c
bin/fa-exchange: bin/fa-exchange.c
bin/fa-refresh: bin/fa-refresh.c
bin/fa-prefetch: bin/fa-prefetch.c
bin/fa-revoke: bin/fa-revoke.c
$(BIN): $(LIBOBJ) $(NETOBJ) lib/*.h
	$(CC) $(ALLCFLAGS) -o $@ $@.c $(LIBOBJ) $(NETOBJ) $(LIBS)

lib/cgi.o: lib/cgi.h lib/conf.h
cgi-bin/fa-dashboard: cgi-bin/fa-dashboard.c lib/cgi.o lib/url.o $(LIBOBJ)
	$(CC) $(ALLCFLAGS) -DFA_BINDIR=\"$(PREFIX)/bin\" -o $@ \
	    cgi-bin/fa-dashboard.c lib/cgi.o $(LIBOBJ) lib/url.o $(LIBS)

t/rawdb: t/rawdb.c $(LIBOBJ) $(NETOBJ)
	$(CC) $(ALLCFLAGS) -o $@ t/rawdb.c $(LIBOBJ) $(NETOBJ) $(LIBS)

deps:
	@missing=; for p in $(DEBS); do \
	    dpkg-query -W -f='$${Status}' $$p 2>/dev/null | \
	    grep -q 'ok installed' || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
	    echo "make deps: installing$$missing"; \
	    export DEBIAN_FRONTEND=noninteractive; \
	    apt-get install -y -q $$missing >/dev/null || \
	    { apt-get update -q >/dev/null && \
	      apt-get install -y -q $$missing >/dev/null; }; \
	fi
	@# The browser test's driver; the browser is Debian's chromium.
	@[ -d t/browser/node_modules/playwright-core ] || \
	    (cd t/browser && npm ci --no-audit --no-fund >/dev/null)

demo: deps
	$(MAKE) all
	./t/demo

check: deps
	$(MAKE) all
	prove -j2 t/
	$(MAKE) check-asan

# The whole suite again against a copy built with AddressSanitizer and
# UndefinedBehaviorSanitizer; any report in .asan/log fails it.
ASAN = -fsanitize=address,undefined -fno-sanitize-recover=all \
	-fno-omit-frame-pointer
check-asan: deps
	rm -rf .asan
	mkdir -p .asan/t .asan/log
	cp -R Makefile config.mk lib bin cgi-bin .asan/
	cp t/rawdb.c .asan/t/
	cd .asan && $(MAKE) clean >/dev/null && \
	    $(MAKE) CC=clang SANFLAGS='$(ASAN)' all
	FA_BUILD=`pwd`/.asan \
	ASAN_OPTIONS=log_path=`pwd`/.asan/log/asan \
	LSAN_OPTIONS=suppressions=`pwd`/t/lsan.supp:print_suppressions=0 \
	UBSAN_OPTIONS=log_path=`pwd`/.asan/log/ubsan:print_stacktrace=1 \
	    prove -j2 t/
	@if [ -n "`ls .asan/log`" ]; then cat .asan/log/*; \
	    echo "check-asan: sanitizer reports above"; exit 1; fi


install: all
	mkdir -p $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(MANPREFIX)/man1 \
	    $(DESTDIR)$(MANPREFIX)/man5 $(DESTDIR)$(MANPREFIX)/man7 \
	    $(DESTDIR)$(MANPREFIX)/man8 $(DESTDIR)$(PREFIX)/lib/fa
	cp -f $(BIN) $(DESTDIR)$(PREFIX)/bin/
	cp -f $(MAN1) $(DESTDIR)$(MANPREFIX)/man1/
	cp -f $(MAN5) $(DESTDIR)$(MANPREFIX)/man5/
	cp -f $(MAN7) $(DESTDIR)$(MANPREFIX)/man7/
	cp -f $(MAN8) $(DESTDIR)$(MANPREFIX)/man8/
	cp -f $(CGI) $(DESTDIR)$(PREFIX)/lib/fa/
	mkdir -p $(DESTDIR)/etc/cron.d
	sed 's|/usr/local|$(PREFIX)|g' cron.d/fa >$(DESTDIR)/etc/cron.d/fa

uninstall:
	for f in $(BIN); do rm -f $(DESTDIR)$(PREFIX)/$$f; done
	rm -f $(DESTDIR)$(PREFIX)/lib/fa/fa-dashboard
	for f in $(MAN1) $(MAN5) $(MAN7) $(MAN8); do \
	    rm -f $(DESTDIR)$(MANPREFIX)/man$${f##*.}/$${f#man/}; done
	rm -f $(DESTDIR)/etc/cron.d/fa

clean:
	rm -f $(BIN) $(CGI) $(TESTBIN) lib/*.o

.PHONY: all deps check check-asan demo install uninstall clean
