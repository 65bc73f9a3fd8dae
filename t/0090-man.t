#!/bin/sh
# Every program has a man page (named in its NAME section), and every
# page is mandoc -Tlint clean.
. "$(dirname "$0")/lib.sh"

for c in "$TOP"/bin/fa-*.c; do
	p=$(basename "$c" .c)
	awk -v p="$p" '/^\.Sh / { name = $2 == "NAME" }
	    name && ($0 == ".Nm " p || $0 == ".Nm " p " ,") { f = 1 }
	    END { exit !f }' "$TOP"/man/*.[18]
	ok $? "$p has a man page (in its NAME)"
done
for m in "$TOP"/man/*.[0-9]; do
	mandoc -Tlint -W warning "$m" >"$T/lint" 2>&1
	[ ! -s "$T/lint" ]; ok $? "mandoc -Tlint clean: $(basename "$m")"
	diag "$T/lint"
done
done_testing
