# fa version
VERSION = 0.1

# paths
PREFIX = /usr/local
MANPREFIX = $(PREFIX)/share/man
CONFDIR = $(PREFIX)/etc/fa

# flags: the shell expands the backquotes when a recipe runs
PKG = pkg-config
SODIUM_CFLAGS = `$(PKG) --cflags libsodium`
SODIUM_LIBS = `$(PKG) --libs libsodium`
JANSSON_CFLAGS = `$(PKG) --cflags jansson`
JANSSON_LIBS = `$(PKG) --libs jansson`
CURL_CFLAGS = `$(PKG) --cflags libcurl`
CURL_LIBS = `$(PKG) --libs libcurl`
DB_LIBS = -ldb-5.3
# The programs take Berkeley DB, libsodium and jansson in statically:
# the dynamic linker was a fifth of a fresh-token lookup (perf), and
# static linking took it from 1.94 to 1.55 ms (BENCH.md). Rebuild after
# a security update of any of the three.
STATIC_LIBS = -Wl,-Bstatic -ldb-5.3 -lsodium -ljansson -Wl,-Bdynamic \
	-lpthread
# The keeper's clients link no Berkeley DB.
CLIENT_LIBS = -Wl,-Bstatic -lsodium -ljansson -Wl,-Bdynamic -lpthread
# The dashboard, fa-refresh's front and fa-vault never load libcurl, so
# they link libc statically too: no dynamic linker, and only the libc
# they call (BENCH.md, figures 1 and 6). Rebuild after an update of
# libc6. make check-asan links them as the others: the
# sanitizers need that.
FAST_LIBS = -static-pie -lsodium -ljansson -lpthread

CC = cc
# SANFLAGS: make check-asan builds a copy with the sanitizers on
SANFLAGS =
CFLAGS = -std=c11 -O2 -g -Wall -Wextra -D_GNU_SOURCE -DFA_CONFDIR=\"$(CONFDIR)\" $(SANFLAGS)
LDFLAGS = $(SANFLAGS)
