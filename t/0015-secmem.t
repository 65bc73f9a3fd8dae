#!/bin/sh
# Secure memory (lib/secmem.c): small secrets share one locked block,
# zeroed when given out, wiped when given back; its space comes back as
# the pieces above are freed; a pointer that is not a piece aborts; more
# than the block holds still gets locked memory. A sanitizer build
# (make check-asan) gives every secret its own block instead (and there
# mlock does nothing: the sanitizers' runtime turns it off).
. "$(dirname "$0")/lib.sh"

secmem >"$T/out" 2>"$T/err"
ok $? "secmem ran"
diag "$T/err"
line() { grep -qx "$1" "$T/out"; ok $? "$2"; }
if [ -n "${FA_BUILD:-}" ]; then
	line 'pooled 0' "sanitizer build: each secret its own block"
else
	line 'pooled 1' "small secrets share one block"
	line 'locked 1' "secret memory is locked (VmLck)"
	line 'freed piece wiped 1' "a freed piece is wiped at once"
	line 'top given back 1' "the top piece's space is given back"
	line 'lower piece wiped 1' "a piece under a live one is wiped"
	line 'space under a live piece kept 1' "...but its space waits"
	line 'all given back 1' "all of it comes back once all is free"
	line 'bad free aborts 1' "a pointer that is not a piece aborts"
fi
line 'zeroed 1' "secrets are zeroed when given out"
line 'beyond the pool 1' "more than the pool holds still works"
diag "$T/out"
done_testing
