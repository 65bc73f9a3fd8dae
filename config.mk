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

CC = cc
# SANFLAGS: make check-asan builds a copy with the sanitizers on
SANFLAGS =
CFLAGS = -std=c11 -O2 -g -Wall -Wextra -D_GNU_SOURCE -DFA_CONFDIR=\"$(CONFDIR)\" $(SANFLAGS)
LDFLAGS = $(SANFLAGS)
