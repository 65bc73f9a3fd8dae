#!/bin/sh
# Every program has a man page, and every page is mandoc -Tlint clean.
. "$(dirname "$0")/lib.sh"

for c in "$TOP"/bin/fa-*.c; do
	p=$(basename "$c" .c)
	[ -f "$TOP/man/$p.1" ] || [ -f "$TOP/man/$p.8" ]; ok $? "$p has a man page"
done
for m in "$TOP"/man/*.[0-9]; do
	mandoc -Tlint -W warning "$m" >"$T/lint" 2>&1
	[ ! -s "$T/lint" ]; ok $? "mandoc -Tlint clean: $(basename "$m")"
	diag "$T/lint"
done
done_testing
