#!/bin/sh
# The shared per-minute limits (fa_rate_take) on a clock of t/ratewin's
# own: the window slides by the second, the wait is exact, and a record
# a second ahead of this process's clock (another process committed
# after we read the time) is counted, not wiped.
. "$(dirname "$0")/lib.sh"

mkvault >/dev/null 2>&1
ratewin "$FA_CONFIG" >"$T/out" 2>"$T/err"
ok $? "ratewin ran"
diag "$T/err"
line() { grep -qx "$1" "$T/out"; ok $? "$2"; }
line 'fill 3' "3 requests a minute: 3 granted"
line 'full wait 60' "the 4th waits 60 s, until the oldest second leaves"
line 'a second early wait 1' "59 s later: 1 s more"
line 'on time wait 0' "60 s later: granted"
line 'spread 2' "30 s later: room for 2 (3 in the window)"
line 'after the oldest left 1' "31 s later one left the window: 1 of 5 granted"
line 'fill again 2' "a minute later: a fresh window"
line 'at T+1 1' "a request a second later fills it"
line 'behind by a second 0' "a process whose clock read is a second behind gets none"
line 'caught up 0' "nor once its clock catches up"
line 'clock an hour back 3' "a clock stepped back an hour starts a fresh window"
line 'held 60 wait 60' "FreeAgent's Retry-After 60 (fa_rate_hold): every request waits 60 s"
line 'a shorter hold wait 30' "30 s later a Retry-After of 10 does not cut the 30 s left"
line 'held, a second early wait 1' "59 s after the first: 1 s more"
line 'hold over 3' "after it, the whole limit"
line 'held a day wait 3600' "a wait of a day is held an hour"
line 'hold from the future 3' "a hold more than an hour ahead (the clock stepped back) is forgotten"
diag "$T/out"
done_testing
