#!/usr/bin/env python3
"""leakscan: the secrets a test used must appear nowhere they should not.

    leakscan.py DIR

DIR is a test's scratch directory (t/lib.sh's $T).  The secrets: every
token the FreeAgent stand-in issued (DIR/issued), the strings the test
named (DIR/secrets.list, one a line: client secrets, tokens it made up), and
every master key file (DIR/*.key*, 32 raw bytes).  Looked for, raw and in
the forms they could be written in (percent- and form-encoded, JSON with
escaped slashes; keys also in hex and base64), in what fa wrote (see
SCAN) and in the argv and environment of every fa process t/procscan saw
(DIR/proc.log).  Prints one line per finding, the secret masked; exits 1
if there was any.
"""

import base64
import os
import re
import sys
from urllib.parse import quote, quote_plus

# What fa wrote, apart from the stdout of the commands whose output is a
# token: every file of the vault directory (databases, their logs, the
# audit records), every stderr the tests kept (*.err, stderr.all; not the
# stand-in's), the dashboard's pages (pages.all, t/lib.sh's webserver),
# the audit log as fa-vault log prints it (audit.txt), lighttpd's logs.
SCAN = re.compile(r"^(vault/.*|(?!standin\.err$)[^/]*\.err|err|stderr|errors|"
                  r"stderr\.all|pages\.all|audit\.txt|lighttpd[^/]*\.log)$")


def forms(s):
    out = {s, quote(s, safe=""), quote_plus(s), s.replace("/", "\\/")}
    return {f.encode() for f in out}


def pctupper(data):
    """The data with every percent-escape in upper case, as quote() writes."""
    return re.sub(rb"%[0-9a-fA-F]{2}", lambda m: m.group(0).upper(), data)


def keyforms(k):
    b64 = {base64.b64encode(k), base64.urlsafe_b64encode(k)}
    return {k, k.hex().encode(), k.hex().upper().encode()} | b64 | \
        {b.rstrip(b"=") for b in b64}


def main():
    top = sys.argv[1]
    secrets = []        # (label, set of byte strings)
    for name in ("issued", "secrets.list"):
        try:
            with open(os.path.join(top, name), encoding="utf-8") as fh:
                for line in fh:
                    s = line.rstrip("\n")
                    if len(s) >= 8:
                        secrets.append((s[:4] + "…", forms(s)))
        except FileNotFoundError:
            pass
    for name in os.listdir(top):
        path = os.path.join(top, name)
        if ".key" in name and os.path.isfile(path) and \
                os.path.getsize(path) == 32:
            with open(path, "rb") as fh:
                secrets.append(("key " + name, keyforms(fh.read())))
    found = scanned = 0
    for dirpath, dirs, files in os.walk(top):
        for f in files:
            path = os.path.join(dirpath, f)
            rel = os.path.relpath(path, top)
            if not SCAN.match(rel) or not os.path.isfile(path):
                continue
            with open(path, "rb") as fh:
                data = fh.read()
            data += b"\0" + pctupper(data)
            scanned += 1
            for label, fs in secrets:
                if any(x in data for x in fs):
                    print("leak: %s in %s" % (label, rel))
                    found += 1
    try:
        with open(os.path.join(top, "proc.log"), "rb") as fh:
            data = fh.read()
        data += b"\0" + pctupper(data)
        for label, fs in secrets:
            if any(x in data for x in fs):
                print("leak: %s in an fa process's argv or environment"
                      % label)
                found += 1
    except FileNotFoundError:
        pass
    print("scanned %d files for %d secrets" % (scanned, len(secrets)))
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
