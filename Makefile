.POSIX:
.SUFFIXES:

include config.mk

LIBOBJ = lib/diag.o lib/secmem.o lib/conf.o lib/seal.o lib/vault.o
NETOBJ = lib/url.o lib/http.o lib/oauth.o lib/hook.o
BIN = bin/fa-vault bin/fa-authurl bin/fa-exchange bin/fa-refresh bin/fa-revoke \
	bin/fa-prefetch
MAN1 = man/fa-vault.1 man/fa-authurl.1 man/fa-exchange.1 man/fa-refresh.1 \
	man/fa-revoke.1 man/fa-prefetch.1
MAN5 = man/fa.conf.5
MAN7 = man/fa.7
TESTBIN = t/rawdb

DEBS = libcurl4-openssl-dev libsodium-dev libdb5.3-dev db5.3-util \
	libjansson-dev jq mandoc curl python3 util-linux xxd perl

all: $(BIN) $(TESTBIN)

lib/diag.o: lib/diag.c lib/diag.h
	$(CC) $(CFLAGS) -c -o $@ lib/diag.c
lib/secmem.o: lib/secmem.c lib/secmem.h lib/diag.h
	$(CC) $(CFLAGS) $(SODIUM_CFLAGS) $(JANSSON_CFLAGS) -c -o $@ lib/secmem.c
lib/conf.o: lib/conf.c lib/conf.h lib/diag.h
	$(CC) $(CFLAGS) -c -o $@ lib/conf.c
lib/seal.o: lib/seal.c lib/seal.h lib/secmem.h lib/diag.h
	$(CC) $(CFLAGS) $(SODIUM_CFLAGS) -c -o $@ lib/seal.c
lib/vault.o: lib/vault.c lib/vault.h lib/seal.h lib/conf.h lib/secmem.h lib/diag.h
	$(CC) $(CFLAGS) $(SODIUM_CFLAGS) $(JANSSON_CFLAGS) -c -o $@ lib/vault.c

lib/url.o: lib/url.c lib/url.h lib/diag.h
	$(CC) $(CFLAGS) -c -o $@ lib/url.c
lib/http.o: lib/http.c lib/http.h lib/url.h lib/conf.h lib/secmem.h lib/diag.h
	$(CC) $(CFLAGS) $(CURL_CFLAGS) $(SODIUM_CFLAGS) -c -o $@ lib/http.c
lib/hook.o: lib/hook.c lib/hook.h lib/conf.h lib/diag.h
	$(CC) $(CFLAGS) -c -o $@ lib/hook.c
lib/oauth.o: lib/oauth.c lib/oauth.h lib/http.h lib/url.h lib/vault.h lib/conf.h lib/secmem.h lib/diag.h
	$(CC) $(CFLAGS) $(SODIUM_CFLAGS) $(JANSSON_CFLAGS) -c -o $@ lib/oauth.c

# No program links libcurl: lib/http.c loads it when a request is made.
bin/fa-authurl: bin/fa-authurl.c $(LIBOBJ) $(NETOBJ)
	$(CC) $(CFLAGS) $(SODIUM_CFLAGS) $(JANSSON_CFLAGS) -Ilib -o $@ \
	    bin/fa-authurl.c $(LIBOBJ) $(NETOBJ) $(LDFLAGS) $(SODIUM_LIBS) $(JANSSON_LIBS) $(DB_LIBS)
bin/fa-exchange: bin/fa-exchange.c $(LIBOBJ) $(NETOBJ)
	$(CC) $(CFLAGS) $(SODIUM_CFLAGS) $(JANSSON_CFLAGS) -Ilib -o $@ \
	    bin/fa-exchange.c $(LIBOBJ) $(NETOBJ) $(LDFLAGS) $(SODIUM_LIBS) $(JANSSON_LIBS) $(DB_LIBS)

bin/fa-refresh: bin/fa-refresh.c $(LIBOBJ) $(NETOBJ)
	$(CC) $(CFLAGS) $(SODIUM_CFLAGS) $(JANSSON_CFLAGS) -Ilib -o $@ \
	    bin/fa-refresh.c $(LIBOBJ) $(NETOBJ) $(LDFLAGS) $(SODIUM_LIBS) $(JANSSON_LIBS) $(DB_LIBS)

bin/fa-revoke: bin/fa-revoke.c $(LIBOBJ) $(NETOBJ)
	$(CC) $(CFLAGS) $(SODIUM_CFLAGS) $(JANSSON_CFLAGS) -Ilib -o $@ \
	    bin/fa-revoke.c $(LIBOBJ) $(NETOBJ) $(LDFLAGS) $(SODIUM_LIBS) $(JANSSON_LIBS) $(DB_LIBS)

bin/fa-prefetch: bin/fa-prefetch.c $(LIBOBJ) $(NETOBJ)
	$(CC) $(CFLAGS) $(SODIUM_CFLAGS) $(JANSSON_CFLAGS) -Ilib -o $@ \
	    bin/fa-prefetch.c $(LIBOBJ) $(NETOBJ) $(LDFLAGS) $(SODIUM_LIBS) $(JANSSON_LIBS) $(DB_LIBS)

bin/fa-vault: bin/fa-vault.c $(LIBOBJ) $(NETOBJ)
	$(CC) $(CFLAGS) $(SODIUM_CFLAGS) $(JANSSON_CFLAGS) -Ilib -o $@ \
	    bin/fa-vault.c $(LIBOBJ) $(NETOBJ) $(LDFLAGS) $(SODIUM_LIBS) $(JANSSON_LIBS) $(DB_LIBS)

t/rawdb: t/rawdb.c $(LIBOBJ)
	$(CC) $(CFLAGS) $(SODIUM_CFLAGS) $(JANSSON_CFLAGS) -Ilib -o $@ \
	    t/rawdb.c $(LIBOBJ) $(LDFLAGS) $(SODIUM_LIBS) $(JANSSON_LIBS) $(DB_LIBS)

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

check: deps
	$(MAKE) all
	prove -j2 t/


install: all
	mkdir -p $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(MANPREFIX)/man1 \
	    $(DESTDIR)$(MANPREFIX)/man5 $(DESTDIR)$(MANPREFIX)/man7
	cp -f $(BIN) $(DESTDIR)$(PREFIX)/bin/
	cp -f $(MAN1) $(DESTDIR)$(MANPREFIX)/man1/
	cp -f $(MAN5) $(DESTDIR)$(MANPREFIX)/man5/
	cp -f $(MAN7) $(DESTDIR)$(MANPREFIX)/man7/
	mkdir -p $(DESTDIR)/etc/cron.d
	sed 's|/usr/local|$(PREFIX)|g' cron.d/fa >$(DESTDIR)/etc/cron.d/fa

uninstall:
	for f in $(BIN); do rm -f $(DESTDIR)$(PREFIX)/$$f; done
	for f in $(MAN1) $(MAN5) $(MAN7); do \
	    rm -f $(DESTDIR)$(MANPREFIX)/man$${f##*.}/$${f#man/}; done
	rm -f $(DESTDIR)/etc/cron.d/fa

clean:
	rm -f $(BIN) $(TESTBIN) lib/*.o

.PHONY: all deps check install uninstall clean
