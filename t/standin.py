#!/usr/bin/env python3
"""A loopback stand-in for FreeAgent's OAuth and API, for fa's tests.

It speaks the behaviour written down in FREEAGENT.md, quirks included:
HTML 401 "HTTP Basic: Access denied." from the token endpoint, the same
company url for every company, ids as numbers or strings, Link/X-Total-Count
pagination, 429 with Retry-After, refresh-token rotation.  Tests steer it
through /_control/* (JSON in, JSON out); those requests are never counted,
faulted, delayed or rate limited.

    python3 t/standin.py [--port N] [--port-file FILE] [--fixture FILE.json]
                         [--issued FILE] [--verbose]

Standard library only; binds 127.0.0.1 only.  Control API (JSON bodies):

    GET  /_control/stats              {"requests":{...},"max_inflight":N,"inflight":N,
                                       "hanging":N (requests in a "timeout" fault now)}
    POST /_control/reset   {"tokens":bool}   counters, faults, config, consent,
                                      clock and rate windows back to defaults
    GET|POST /_control/config  {key: value, ...}   merged; see DEFAULT_CONFIG
    GET|POST /_control/consent {"mode":"approve"|"decline"|"interactive","company":ID}
    GET|POST /_control/clock   {"offset":S} or {"advance":S}
    POST /_control/fault  {"path":P|"*","kind":K,"count":N,"retry_after":S,"seconds":S,
                           "window":bool}   (429 and window: the path then answers
                           429 until Retry-After has passed)
    GET|DELETE /_control/fault
    POST /_control/revoke {"company":ID}
    GET  /_control/tokens[?company=ID]
    GET|POST /_control/fixture   (POST replaces; missing keys take the defaults)
"""

import argparse
import base64
import copy
import html
import json
import math
import os
import secrets
import select
import signal
import socket
import struct
import sys
import threading
import time
import traceback
from collections import deque
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

MAX_BODY = 1 << 20
HUGE_SIZE = 20 * 1000 * 1000
BASIC_DENIED = b"HTTP Basic: Access denied."
FAULT_KINDS = ("500", "502", "503", "429", "timeout", "truncated", "malformed",
               "html", "huge", "reset", "html401", "invalid_grant")
DEFAULT_CONFIG = {
    "access_ttl": 3600,
    "refresh_ttl": 631151957,
    "code_ttl": 900,
    "old_refresh_valid": True,
    "invalid_grant_style": "json",      # or "html401"
    "rate_limits": True,
    "api_per_minute": 120,
    "refresh_per_minute": 15,
    "ip_per_minute": 1000,
    "retry_after": 60,
    "latency_ms": 0,
    "latency": {},                      # {"/v2/categories": 300} overrides latency_ms
    "link_rel_quote": '"',              # '"' or "'"
}
VIEWS = {"standard_bank_accounts": "StandardBankAccount",
         "credit_card_accounts": "CreditCardAccount",
         "paypal_accounts": "PaypalAccount"}
CATEGORY_LISTS = ("admin_expenses_categories", "cost_of_sales_categories",
                  "income_categories", "general_categories")


# ---------------------------------------------------------------- fixture

def _category(code, desc, group, tax_name, allowable=True, rate=None):
    c = {"nominal_code": code, "description": desc, "group_description": group,
         "allowable_for_tax": allowable, "tax_reporting_name": tax_name}
    if rate is not None:
        c["auto_sales_tax_rate"] = rate
    return c


def _income(n, names=None):
    names = names or []
    out = []
    for i in range(1, n + 1):
        desc = names[i - 1] if i <= len(names) else "Income stream %02d" % i
        out.append(_category("%03d" % i, desc, "Income", "Turnover", True,
                             "Standard rate" if i % 3 else "Exempt"))
    return out


def _bank_accounts(first_id, n, currency, banks):
    out = []
    for i in range(n):
        kind = i % 10
        typ = ("StandardBankAccount" if kind < 6 else
               "CreditCardAccount" if kind < 8 else "PaypalAccount")
        a = {"id": first_id + i, "type": typ, "currency": currency,
             "name": "%s %d" % ({"StandardBankAccount": "Current account",
                                 "CreditCardAccount": "Card",
                                 "PaypalAccount": "PayPal"}[typ], i + 1),
             "is_personal": i % 11 == 5, "is_primary": i == 0,
             "status": "hidden" if i % 7 == 6 else "active",
             "bank_name": "PayPal" if typ == "PaypalAccount" else banks[i % len(banks)],
             "opening_balance": "0.0",
             "current_balance": "%d.%d" % ((i * 137) % 5000 - 700, i % 10),
             "latest_activity_date": "2024-%02d-%02d" % (i % 12 + 1, i % 28 + 1),
             "created_at": "2020-01-01T09:00:00.000Z",
             "updated_at": "2024-06-01T09:00:00.000Z"}
        if typ == "PaypalAccount":
            a["email"] = "payments%d@example.com" % (i + 1)
        elif typ == "StandardBankAccount":
            a["account_number"] = "%08d" % (12345000 + i)
            a["sort_code"] = "12-34-%02d" % (i % 100)
        out.append(a)
    return out


def _company(cid, name, sub, typ, cur, n_income, n_bank, first_bank, extra=None):
    c = {"id": cid, "name": name, "subdomain": sub, "type": typ, "currency": cur,
         "mileage_units": "miles" if cur == "GBP" else "kilometers",
         "company_start_date": "2015-04-01", "sales_tax_registration_status":
         "Registered" if cur == "GBP" else "Not Registered",
         "income_categories": _income(n_income, (extra or {}).get("income_names")),
         "admin_expenses_categories": [
             _category("250", "Advertising and Promotion", "Admin Expenses", "Advertising"),
             _category("285", "Accommodation and Meals", "Admin Expenses", "Travel"),
             _category("363", "Computer Software", "Admin Expenses", "Office costs"),
             _category("365", "Entertaining", "Admin Expenses", "Entertaining", False)],
         "cost_of_sales_categories": [
             _category("101", "Cost of Sales", "Cost of Sales", "Cost of sales"),
             _category("102", "Commission Paid", "Cost of Sales", "Cost of sales"),
             _category("103", "Materials", "Cost of Sales", "Cost of sales")],
         "general_categories": [
             _category("601", "Bank Charges", "General", "Interest"),
             _category("750", "Opening Balance Transfers", "General", "Other", False),
             _category("902", "Director's Loan Account", "General", "Other", False)],
         "bank_accounts": _bank_accounts(first_bank, n_bank, cur,
                                         ["Barclays", "HSBC", "Lloyds", "Monzo"]),
         "user": {"first_name": "Pat", "last_name": name.split()[0],
                  "email": "owner@%s.example.com" % sub, "role": "Director",
                  "permission_level": 8, "opening_mileage": "0.0"}}
    return c


def default_fixture():
    return {
        "clients": [{"client_id": "fa-test-client",
                     "client_secret": "fa-test-secret-0123456789",
                     "redirect_uris": []}],
        "companies": [
            _company(1001, "Acme Widgets Ltd", "acme", "UkLimitedCompany", "GBP",
                     60, 130, 1, {"income_names": ["Sales", "Consultancy & Fees",
                                                   'Royalties "Books"', "Café <kiosk>"]}),
            _company("1002", "Beta Books LLP", "beta", "UkLimitedLiabilityPartnership",
                     "GBP", 4, 5, 201),
            _company(1003, "Gamma Trading", "gamma", "UsLimitedLiabilityCompany",
                     "USD", 3, 4, 301),
        ],
    }


def check_fixture(fx):
    """Validate a fixture and fill defaults; raise ValueError."""
    if not isinstance(fx, dict):
        raise ValueError("fixture must be a JSON object")
    base = default_fixture()
    out = {"clients": fx.get("clients", base["clients"]),
           "companies": fx.get("companies", base["companies"])}
    if not isinstance(out["clients"], list) or not out["clients"]:
        raise ValueError("clients must be a non-empty list")
    for c in out["clients"]:
        if not isinstance(c, dict) or not isinstance(c.get("client_id"), str) \
                or not isinstance(c.get("client_secret"), str):
            raise ValueError("each client needs string client_id and client_secret")
        c.setdefault("redirect_uris", [])
        if not isinstance(c["redirect_uris"], list):
            raise ValueError("redirect_uris must be a list")
    if not isinstance(out["companies"], list) or not out["companies"]:
        raise ValueError("companies must be a non-empty list")
    seen = set()
    for c in out["companies"]:
        if not isinstance(c, dict) or isinstance(c.get("id"), bool) \
                or not isinstance(c.get("id"), (int, str)):
            raise ValueError("each company needs an id (number or string)")
        if str(c["id"]) in seen:
            raise ValueError("duplicate company id %s" % c["id"])
        seen.add(str(c["id"]))
        c.setdefault("name", "Company %s" % c["id"])
        c.setdefault("subdomain", "company%s" % c["id"])
        c.setdefault("type", "UkLimitedCompany")
        c.setdefault("currency", "GBP")
        for k in CATEGORY_LISTS + ("bank_accounts",):
            c.setdefault(k, [])
            if not isinstance(c[k], list) or not all(isinstance(x, dict) for x in c[k]):
                raise ValueError("%s must be a list of objects" % k)
        for i, a in enumerate(c["bank_accounts"]):
            a.setdefault("id", i + 1)
        c.setdefault("user", {"first_name": "Pat", "last_name": "Owner",
                              "email": "owner@example.com", "role": "Owner",
                              "permission_level": 8})
    return out


# ---------------------------------------------------------------- state

def new_token():
    """48 chars of standard base64 that always hold '+', '/' and '='."""
    raw = bytearray(secrets.token_bytes(35))
    raw[6] = (62 << 2) | (raw[6] & 3)       # char 8 is '+'
    raw[12] = (63 << 2) | (raw[12] & 3)     # char 16 is '/'
    return base64.b64encode(bytes(raw)).decode()   # 35 bytes: ends in one '='


class State:
    def __init__(self, fixture):
        self.lock = threading.Lock()
        self.fixture = fixture
        self.issued = None    # file to append issued tokens to
        self.codes = {}       # code -> {client_id, redirect_uri, company, expires_at, used}
        self.refresh = {}     # token -> {client_id, company, grant, expires_at, used, revoked}
        self.access = {}      # token -> {client_id, company, grant, expires_at, revoked}
        self.reset(tokens=False)

    def reset(self, tokens):
        self.config = copy.deepcopy(DEFAULT_CONFIG)
        self.consent = {"mode": "interactive", "company": None}
        self.faults = []
        self.closed = {}
        self.counts = {}
        self.inflight = getattr(self, "inflight", 0)    # requests still running
        self.hanging = getattr(self, "hanging", 0)      # of which in hang()
        self.max_inflight = self.inflight
        self.offset = 0.0
        self.windows = {}
        if tokens:
            self.codes.clear()
            self.refresh.clear()
            self.access.clear()

    def now(self):
        return time.time() + self.offset

    def company(self, cid):
        for c in self.fixture["companies"]:
            if str(c["id"]) == str(cid):
                return c
        return None

    def client(self, client_id):
        for c in self.fixture["clients"]:
            if c["client_id"] == client_id:
                return c
        return None

    def client_ok(self, client_id, secret):
        c = self.client(client_id)
        if c is None or secret is None:
            return False
        good = [c["client_secret"]] + list(c.get("client_secrets", []))
        return any(secrets.compare_digest(secret.encode(), s.encode()) for s in good)

    def count(self, key):
        self.counts[key] = self.counts.get(key, 0) + 1

    def rate_ok(self, key, limit):
        """Sliding 60-second window; refused requests are not recorded."""
        if not self.config["rate_limits"]:
            return True
        now = self.now()
        w = self.windows.setdefault(key, deque())
        while w and w[0] <= now - 60:
            w.popleft()
        if len(w) >= limit:
            return False
        w.append(now)
        return True

    def take_fault(self, path):
        # A 429 fault with "window" closes the path for its Retry-After,
        # as FreeAgent's rate window does: asked again too soon, 429 again.
        until = self.closed.get(path, 0)
        if time.monotonic() < until:
            return {"path": path, "kind": "429",
                    "retry_after": math.ceil(until - time.monotonic())}
        for f in self.faults:
            if f["count"] > 0 and f["path"] in (path, "*"):
                f["count"] -= 1
                if f["count"] == 0:
                    self.faults.remove(f)
                if f["kind"] == "429" and f.get("window"):
                    self.closed[path] = time.monotonic() + f["retry_after"]
                return dict(f)
        return None

    def issue(self, client_id, company, grant):
        now = self.now()
        at, rt = new_token(), new_token()
        if self.issued is not None:     # for t/leakscan.py
            with open(self.issued, "a", encoding="ascii") as fh:
                fh.write("%s\n%s\n" % (at, rt))
        self.access[at] = {"client_id": client_id, "company": company, "grant": grant,
                           "expires_at": now + self.config["access_ttl"], "revoked": False}
        self.refresh[rt] = {"client_id": client_id, "company": company, "grant": grant,
                            "expires_at": now + self.config["refresh_ttl"],
                            "used": False, "revoked": False}
        return {"access_token": at, "token_type": "bearer",
                "expires_in": self.config["access_ttl"], "refresh_token": rt,
                "refresh_token_expires_in": self.config["refresh_ttl"]}

    def refresh_usable(self, r):
        return not (r["revoked"] or r["expires_at"] <= self.now()
                    or (r["used"] and not self.config["old_refresh_valid"]))

    def access_usable(self, a):
        return not (a["revoked"] or a["expires_at"] <= self.now()
                    or self.company(a["company"]) is None)

    def revoke_where(self, pred):
        n = 0
        for table in (self.refresh, self.access):
            for rec in table.values():
                if pred(rec) and not rec["revoked"]:
                    rec["revoked"] = True
                    n += 1
        return n


# ---------------------------------------------------------------- helpers

def _huge_body():
    item = (b'{"url":"http://127.0.0.1/v2/bank_accounts/0","type":"StandardBankAccount",'
            b'"name":"Padding account","currency":"GBP","status":"active",'
            b'"bank_name":"Padding","opening_balance":"0.0","current_balance":"0.0"}')
    n = HUGE_SIZE // (len(item) + 1) + 1
    return b'{"bank_accounts":[' + b",".join([item] * n) + b"]}"


_HUGE = None
_HUGE_LOCK = threading.Lock()


def huge_body():
    global _HUGE
    with _HUGE_LOCK:
        if _HUGE is None:
            _HUGE = _huge_body()
        return _HUGE


def html_page(title, text):
    return ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>%s</title>"
            "</head><body><h1>%s</h1><p>%s</p></body></html>\n"
            % (html.escape(title), html.escape(title), html.escape(text))).encode()


def add_query(url, params):
    """Append params to url's query, keeping any query it already has."""
    s = urlsplit(url)
    extra = urlencode([(k, v) for k, v in params if v is not None], quote_via=quote)
    q = s.query + "&" + extra if s.query else extra
    return urlunsplit((s.scheme, s.netloc, s.path, q, s.fragment))


def api_error(message):
    return {"errors": {"error": {"message": message}}}


class Reply(Exception):
    """Raised by a route to answer at once."""

    def __init__(self, status, body=b"", ctype="application/json", headers=()):
        super().__init__(status)
        self.status, self.body, self.ctype, self.headers = status, body, ctype, list(headers)


def json_reply(status, obj, headers=()):
    return Reply(status, json.dumps(obj, ensure_ascii=False).encode(),
                 "application/json; charset=utf-8", headers)


def basic_denied():
    return Reply(401, BASIC_DENIED, "text/html; charset=utf-8",
                 [("WWW-Authenticate", 'Basic realm="Application"')])


def html_reply(status, title, text):
    return Reply(status, html_page(title, text), "text/html; charset=utf-8")


# ---------------------------------------------------------------- handler

class Handler(BaseHTTPRequestHandler):
    # Headers and body go out in separate writes: without TCP_NODELAY the
    # body waits for the client's delayed ACK, 40 ms a request.
    disable_nagle_algorithm = True
    protocol_version = "HTTP/1.1"
    server_version = "fa-standin/1"
    default_request_version = "HTTP/1.0"   # so even garbage gets a status line
    timeout = 120                       # idle keep-alive connections

    # http.server logs every request through log_message; keep it quiet.
    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("standin: %s %s\n" % (self.address_string(), fmt % args))

    @property
    def st(self):
        return self.server.state

    def do_GET(self):
        self.dispatch()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    # -- plumbing

    def read_body(self):
        te = self.headers.get("Transfer-Encoding", "").lower()
        if "chunked" in te:
            data = b""
            while True:
                line = self.rfile.readline(1024)
                size = int(line.split(b";")[0].strip() or b"x", 16)
                if size == 0:
                    while self.rfile.readline(1024).strip():
                        pass
                    return data
                if len(data) + size > MAX_BODY:
                    raise Reply(413, b'{"error":"body too large"}')
                data += self.rfile.read(size)
                self.rfile.readline(1024)
        n = int(self.headers.get("Content-Length") or 0)
        if n < 0:
            raise ValueError("negative length")
        if n > MAX_BODY:
            raise Reply(413, b'{"error":"body too large"}')
        return self.rfile.read(n) if n else b""

    def base(self):
        host = self.headers.get("Host", "")
        if not host or not all(ch.isalnum() or ch in ".-:[]" for ch in host):
            host = "127.0.0.1:%d" % self.server.server_address[1]
        return "http://" + host

    def send(self, status, body=b"", ctype="application/json", headers=()):
        self.send_response(status)
        if ctype:
            self.send_header("Content-Type", ctype)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def dispatch(self):
        try:
            u = urlsplit(self.path)
            self.rpath = u.path
            self.query = dict(parse_qsl(u.query, keep_blank_values=True))
            self.rawquery = parse_qsl(u.query, keep_blank_values=True)
            try:
                self.body = self.read_body()
            except Reply:
                self.close_connection = True
                raise
            except ValueError:
                self.close_connection = True
                raise Reply(400, b'{"error":"bad request body"}')
            if self.rpath.startswith("/_control/"):
                self.control()
            else:
                self.public()
        except Reply as r:
            self.send(r.status, r.body, r.ctype, r.headers)
        except (BrokenPipeError, ConnectionResetError, socket.timeout):
            self.close_connection = True
        except Exception:
            traceback.print_exc()
            self.close_connection = True
            try:
                self.send(500, json.dumps(api_error("stand-in internal error")).encode())
            except OSError:
                pass

    def form(self):
        ctype = self.headers.get("Content-Type", "")
        if "application/x-www-form-urlencoded" not in ctype.lower():
            return {}
        try:
            return dict(parse_qsl(self.body.decode("utf-8"), keep_blank_values=True))
        except (UnicodeDecodeError, ValueError):
            raise Reply(400, b'{"error":"invalid_request"}')

    # -- public side: counted, faulted, delayed, rate limited

    def public(self):
        st = self.st
        key = "%s %s" % (self.command, self.rpath)
        grant = None
        if self.rpath == "/v2/token_endpoint" and self.command == "POST":
            grant = self.form().get("grant_type") or "none"
        with st.lock:
            st.count(key)
            if grant:
                st.count("grant:" + grant)
            st.inflight += 1
            st.max_inflight = max(st.max_inflight, st.inflight)
            cfg = st.config
            delay = cfg["latency"].get(self.rpath, cfg["latency_ms"])
        try:
            if delay:
                time.sleep(delay / 1000.0)
            with st.lock:
                fault = st.take_fault(self.rpath)
            if fault:
                return self.fault(fault)
            with st.lock:
                ok = st.rate_ok(("ip", self.client_address[0]), st.config["ip_per_minute"])
            if not ok:
                raise self.too_many()
            self.route()
        finally:
            with st.lock:
                st.inflight -= 1

    def too_many(self, retry_after=None):
        if retry_after is None:
            retry_after = self.st.config["retry_after"]
        return json_reply(429, api_error("Rate limit exceeded"),
                          [("Retry-After", "%d" % retry_after)])

    def route(self):
        m, p = self.command, self.rpath
        if p == "/v2/approve_app" and m in ("GET", "POST"):
            return self.approve_get() if m == "GET" else self.approve_post()
        if p == "/v2/token_endpoint" and m == "POST":
            return self.token_endpoint()
        if p == "/oauth/revoke" and m == "POST":
            return self.oauth_revoke()
        if m == "GET" and (p in ("/v2/company", "/v2/users/me", "/v2/categories",
                                 "/v2/bank_accounts")
                           or p.startswith("/v2/categories/")
                           or p.startswith("/v2/bank_accounts/")):
            return self.api()
        raise json_reply(404, api_error("Not found"))

    # -- faults

    def fault(self, f):
        kind = f["kind"]
        if kind in ("500", "502", "503"):
            names = {"500": "Internal Server Error", "502": "Bad Gateway",
                     "503": "Service Unavailable"}
            raise html_reply(int(kind), "%s %s" % (kind, names[kind]),
                             "We're sorry, but something went wrong.")
        if kind == "429":
            raise self.too_many(f.get("retry_after", 1))
        if kind == "html401":
            raise basic_denied()
        if kind == "invalid_grant":
            raise json_reply(400, {"error": "invalid_grant",
                                   "error_description": "fault injected"})
        if kind == "malformed":
            raise Reply(200, b'{"company": {"id": 1001, "name": "Acme Wid', "application/json")
        if kind == "html":
            raise html_reply(200, "FreeAgent is down for maintenance",
                             "We'll be back shortly.")
        if kind == "huge":
            raise Reply(200, huge_body(), "application/json; charset=utf-8")
        self.close_connection = True
        self.log_message('"%s" fault %s', self.requestline, kind)
        if kind == "truncated":
            body = b'{"bank_accounts":[{"url":"http://127.0.0.1/v2/bank_accounts/1",'
            self.send_response(200)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body) + 4096))
            self.end_headers()
            self.wfile.write(body)
            self.wfile.flush()
            return
        if kind == "reset":
            return self.reset_connection()
        if kind == "timeout":
            with self.st.lock:
                self.st.hanging += 1
            try:
                return self.hang(f.get("seconds", 60))
            finally:
                with self.st.lock:
                    self.st.hanging -= 1

    def reset_connection(self):
        sock = self.connection
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        # The socket only really closes once its file wrappers are gone.
        self.rfile.close()
        self.wfile.close()
        sock.close()

        class Sink:
            closed = True

            def flush(self):
                pass

            def close(self):
                pass
        self.wfile = self.rfile = Sink()

    def hang(self, seconds):
        """Answer nothing; return early once the client has hung up."""
        deadline = time.monotonic() + float(seconds)
        sock = self.connection
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                r, _, _ = select.select([sock], [], [], min(left, 0.2))
                if r and not sock.recv(1, socket.MSG_PEEK):
                    return
                if r:
                    time.sleep(min(left, 0.2))
            except (OSError, ValueError):
                return

    # -- OAuth: consent

    def consent_check(self, q):
        client = self.st.client(q.get("client_id", ""))
        if client is None:
            raise html_reply(400, "Invalid client", "Unknown client_id.")
        ru = q.get("redirect_uri", "")
        if not ru or (client["redirect_uris"] and ru not in client["redirect_uris"]):
            raise html_reply(400, "Invalid redirect URI",
                             "The redirect_uri is not registered for this app.")
        if q.get("response_type") != "code":
            raise html_reply(400, "Unsupported response type",
                             "response_type must be code.")
        return client, ru

    def consent_redirect(self, q, company):
        """302 back to the app, approving for company, or declining if None."""
        with self.st.lock:
            if company is not None:
                code = new_token()
                self.st.codes[code] = {"client_id": q["client_id"],
                                       "redirect_uri": q["redirect_uri"],
                                       "company": str(company["id"]),
                                       "expires_at": self.st.now() + self.st.config["code_ttl"],
                                       "used": False}
                params = [("code", code)]
            else:
                params = [("error", "access_denied"),
                          ("error_description", "The user denied access to the app.")]
        params += [("state", q.get("state") or None), ("iss", self.base() + "/v2")]
        raise Reply(302, b"", None, [("Location", add_query(q["redirect_uri"], params)),
                                     ("Cache-Control", "no-store")])

    def approve_get(self):
        q = self.query
        self.consent_check(q)
        with self.st.lock:
            mode = self.st.consent["mode"]
            company = self.st.company(self.st.consent["company"] or
                                      self.st.fixture["companies"][0]["id"])
            companies = [(str(c["id"]), c["name"], c["subdomain"])
                         for c in self.st.fixture["companies"]]
        if mode == "decline":
            self.consent_redirect(q, None)
        if mode == "approve":
            if company is None:
                raise html_reply(400, "Unknown company", "The consent company is not in the fixture.")
            self.consent_redirect(q, company)
        e = html.escape
        rows = "".join(
            '<p><label><input type="radio" name="company" id="company-%s" value="%s"%s> '
            '%s (%s)</label></p>\n' % (e(cid), e(cid), " checked" if i == 0 else "",
                                       e(name), e(sub))
            for i, (cid, name, sub) in enumerate(companies))
        hidden = "".join('<input type="hidden" name="%s" value="%s">\n' % (k, e(q.get(k, "")))
                         for k in ("client_id", "redirect_uri", "state", "response_type"))
        page = ("<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\">"
                "<title>Approve app</title></head><body>\n"
                "<h1>Allow %s to access your FreeAgent data?</h1>\n"
                "<form method=\"post\" action=\"/v2/approve_app\">\n%s%s"
                "<button type=\"submit\" name=\"decision\" value=\"approve\" id=\"approve\">"
                "Approve</button>\n"
                "<button type=\"submit\" name=\"decision\" value=\"decline\" id=\"decline\">"
                "Decline</button>\n</form></body></html>\n"
                % (e(q.get("client_id", "")), hidden, rows))
        raise Reply(200, page.encode(), "text/html; charset=utf-8")

    def approve_post(self):
        f = self.form()
        self.consent_check(f)
        decision = f.get("decision")
        if decision == "decline":
            self.consent_redirect(f, None)
        if decision != "approve":
            raise html_reply(400, "Bad decision", "Choose Approve or Decline.")
        with self.st.lock:
            company = self.st.company(f.get("company", ""))
        if company is None:
            raise html_reply(400, "Choose a company", "Pick one of your companies.")
        self.consent_redirect(f, company)

    # -- OAuth: token endpoint and RFC 7009 revocation

    def client_auth(self, f):
        """Return the authenticated client_id or raise the HTML 401."""
        auth = self.headers.get("Authorization", "")
        if auth[:6].lower() == "basic ":
            try:
                cid, sep, secret = base64.b64decode(auth[6:].strip(), validate=True) \
                    .decode("utf-8").partition(":")
            except (ValueError, UnicodeDecodeError):
                raise basic_denied()
            if not sep:
                raise basic_denied()
        else:
            cid, secret = f.get("client_id", ""), f.get("client_secret")
        with self.st.lock:
            if not self.st.client_ok(cid, secret):
                raise basic_denied()
        return cid

    def invalid_grant(self, why):
        if self.st.config["invalid_grant_style"] == "html401":
            raise basic_denied()
        raise json_reply(400, {"error": "invalid_grant", "error_description": why})

    def token_endpoint(self):
        f = self.form()
        cid = self.client_auth(f)
        gt = f.get("grant_type")
        st = self.st
        if gt == "authorization_code":
            with st.lock:
                c = st.codes.get(f.get("code", ""))
                if (c is None or c["used"] or c["client_id"] != cid
                        or c["expires_at"] <= st.now()
                        or c["redirect_uri"] != f.get("redirect_uri")):
                    raise basic_denied()
                c["used"] = True
                out = st.issue(cid, c["company"], new_token())
            raise json_reply(200, out, [("Cache-Control", "no-store")])
        if gt == "refresh_token":
            if not f.get("refresh_token"):
                raise json_reply(400, {"error": "invalid_request",
                                       "error_description": "refresh_token is missing"})
            with st.lock:
                r = st.refresh.get(f["refresh_token"])
                if r is None or r["client_id"] != cid:
                    self.invalid_grant("The refresh token is invalid.")
                if r["used"]:   # sent before: counted, whatever the answer
                    st.count("grant:refresh_token:again")
                if not st.rate_ok(("refresh", r["company"]), st.config["refresh_per_minute"]):
                    raise self.too_many()
                if not st.refresh_usable(r):
                    self.invalid_grant("The refresh token is invalid, expired or revoked.")
                r["used"] = True
                out = st.issue(cid, r["company"], r["grant"])
            raise json_reply(200, out, [("Cache-Control", "no-store")])
        raise json_reply(400, {"error": "unsupported_grant_type",
                               "error_description": "grant_type must be authorization_code "
                                                    "or refresh_token"})

    def oauth_revoke(self):
        f = self.form()
        cid = self.client_auth(f)
        tok = f.get("token")
        if not tok:
            raise json_reply(400, {"error": "invalid_request"})
        st = self.st
        with st.lock:
            r = st.refresh.get(tok)
            a = st.access.get(tok)
            if r is not None and r["client_id"] == cid:
                st.revoke_where(lambda x: x["grant"] == r["grant"])
            elif a is not None and a["client_id"] == cid:
                a["revoked"] = True
        raise Reply(200, b"", None)

    # -- API

    def api(self):
        st = self.st
        if not self.headers.get("User-Agent", "").strip():
            raise json_reply(400, api_error("User-Agent header is required"))
        auth = self.headers.get("Authorization", "")
        tok = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        with st.lock:
            a = st.access.get(tok)
            if a is None or not st.access_usable(a):
                raise json_reply(401, api_error("Access token not recognised"))
            limit = st.config["api_per_minute"]
            if self.headers.get("X-RateLimit-Test", "").lower() == "true":
                limit = min(limit, 5)
            if not st.rate_ok(("api", a["company"], a["client_id"]), limit):
                raise self.too_many()
            # Shallow: the answers below are built as new objects, never
            # by changing the fixture's (a deep copy of a big company per
            # request, under the lock, was most of a page's time).
            company = dict(st.company(a["company"]))
            quote_ch = st.config["link_rel_quote"]
        base = self.base()
        p = self.rpath
        if p == "/v2/company":
            out = {"url": base + "/v2/company"}
            out.update((k, v) for k, v in company.items()
                       if k not in CATEGORY_LISTS + ("bank_accounts", "user"))
            raise json_reply(200, {"company": out})
        if p == "/v2/users/me":
            user = {"url": "%s/v2/users/%s" % (base, company["id"])}
            user.update(company["user"])
            raise json_reply(200, {"user": user})
        if p.startswith("/v2/categories"):
            for k in CATEGORY_LISTS:
                company[k] = [dict(c, url="%s/v2/categories/%s" % (
                    base, quote(str(c.get("nominal_code")))))
                    for c in company[k]]
            if p != "/v2/categories":
                code = p[len("/v2/categories/"):]
                for k in CATEGORY_LISTS:
                    for c in company[k]:
                        if str(c.get("nominal_code")) == code:
                            raise json_reply(200, {"category": c})
                raise json_reply(404, api_error("Not found"))
            lists = {k: company[k] for k in CATEGORY_LISTS}
            return self.paginated(lists, base, quote_ch)
        accounts = []
        for a in company["bank_accounts"]:
            b = {"url": "%s/v2/bank_accounts/%s" % (base, a["id"])}
            b.update((k, v) for k, v in a.items() if k != "id")
            accounts.append(b)
        if p != "/v2/bank_accounts":
            for b in accounts:
                if b["url"].endswith("/" + p.rsplit("/", 1)[1]):
                    raise json_reply(200, {"bank_account": b})
            raise json_reply(404, api_error("Not found"))
        view = self.query.get("view")
        if view and view != "all":
            if view not in VIEWS:
                raise json_reply(400, api_error("Unknown view"))
            accounts = [b for b in accounts if b.get("type") == VIEWS[view]]
        return self.paginated({"bank_accounts": accounts}, base, quote_ch)

    def paginated(self, lists, base, quote_ch):
        try:
            page = int(self.query.get("page", "1"))
            per = int(self.query.get("per_page", "25"))
        except ValueError:
            raise json_reply(400, api_error("page and per_page must be integers"))
        if page < 1 or per < 1:
            raise json_reply(400, api_error("page and per_page must be positive"))
        per = min(per, 100)
        total = max(len(v) for v in lists.values())
        last = max(1, -(-total // per))
        out = {k: v[(page - 1) * per:page * per] for k, v in lists.items()}

        def link(n):
            params = [(k, v) for k, v in self.rawquery if k != "page"]
            params.append(("page", str(n)))
            return "<%s%s?%s>; rel=%s" % (base, self.rpath, urlencode(params), quote_ch)

        links = []
        if last > 1:
            if page < last:
                links.append(link(page + 1) + "next" + quote_ch)
            if page > 1:
                links.append(link(min(page - 1, last)) + "prev" + quote_ch)
            links.append(link(1) + "first" + quote_ch)
            links.append(link(last) + "last" + quote_ch)
        raise json_reply(200, out, [("Link", ", ".join(links)),
                                    ("X-Total-Count", str(total))])

    # -- control side

    def cjson(self):
        if not self.body.strip():
            return {}
        try:
            obj = json.loads(self.body)
        except (ValueError, UnicodeDecodeError):
            raise json_reply(400, {"error": "body is not valid JSON"})
        if not isinstance(obj, dict):
            raise json_reply(400, {"error": "body must be a JSON object"})
        return obj

    def control(self):
        st, m, p = self.st, self.command, self.rpath[len("/_control/"):]
        bad = lambda msg: json_reply(400, {"error": msg})
        if p == "stats" and m == "GET":
            with st.lock:
                raise json_reply(200, {"requests": dict(st.counts),
                                       "max_inflight": st.max_inflight,
                                       "inflight": st.inflight,
                                       "hanging": st.hanging})
        if p == "reset" and m == "POST":
            body = self.cjson()
            with st.lock:
                st.reset(tokens=bool(body.get("tokens")))
            raise json_reply(200, {"ok": True})
        if p == "config" and m in ("GET", "POST"):
            body = self.cjson() if m == "POST" else {}
            with st.lock:
                new = dict(st.config)
                for k, v in body.items():
                    if k not in DEFAULT_CONFIG:
                        raise bad("unknown config key %s" % k)
                    want = type(DEFAULT_CONFIG[k])
                    if want is int and (isinstance(v, bool) or not isinstance(v, (int, float))
                                        or v < 0):
                        raise bad("%s must be a non-negative number" % k)
                    if want is not int and not isinstance(v, want):
                        raise bad("%s must be a %s" % (k, want.__name__))
                    new[k] = v
                if new["invalid_grant_style"] not in ("json", "html401"):
                    raise bad("invalid_grant_style must be json or html401")
                if new["link_rel_quote"] not in ('"', "'"):
                    raise bad("link_rel_quote must be \" or '")
                if not all(isinstance(x, (int, float)) and not isinstance(x, bool)
                           for x in new["latency"].values()):
                    raise bad("latency values must be milliseconds")
                st.config = new
                raise json_reply(200, new)
        if p == "consent" and m in ("GET", "POST"):
            body = self.cjson() if m == "POST" else None
            with st.lock:
                if body is not None:
                    mode = body.get("mode")
                    if mode not in ("approve", "decline", "interactive"):
                        raise bad("mode must be approve, decline or interactive")
                    comp = body.get("company")
                    if comp is not None and st.company(comp) is None:
                        raise bad("unknown company %s" % comp)
                    st.consent = {"mode": mode,
                                  "company": None if comp is None else str(comp)}
                raise json_reply(200, st.consent)
        if p == "clock" and m in ("GET", "POST"):
            body = self.cjson() if m == "POST" else {}
            with st.lock:
                for k in ("offset", "advance"):
                    v = body.get(k)
                    if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                        raise bad("%s must be a number of seconds" % k)
                if "offset" in body:
                    st.offset = float(body["offset"])
                if "advance" in body:
                    st.offset += float(body["advance"])
                raise json_reply(200, {"offset": st.offset, "now": int(st.now())})
        if p == "fault" and m == "POST":
            body = self.cjson()
            kind, path = body.get("kind"), body.get("path")
            count = body.get("count", 1)
            if kind not in FAULT_KINDS:
                raise bad("kind must be one of %s" % ", ".join(FAULT_KINDS))
            if not isinstance(path, str) or not (path == "*" or path.startswith("/")):
                raise bad("path must be \"*\" or start with /")
            if isinstance(count, bool) or not isinstance(count, int) or count < 1:
                raise bad("count must be a positive integer")
            f = {"path": path, "kind": kind, "count": count,
                 "window": body.get("window") is True}
            for k, dflt in (("retry_after", 1), ("seconds", 60)):
                v = body.get(k, dflt)
                if isinstance(v, bool) or not isinstance(v, (int, float)) or v < 0:
                    raise bad("%s must be a non-negative number" % k)
                f[k] = v
            with st.lock:
                st.faults.append(f)
                raise json_reply(200, {"faults": list(st.faults)})
        if p == "fault" and m in ("GET", "DELETE"):
            with st.lock:
                if m == "DELETE":
                    st.faults = []
                raise json_reply(200, {"faults": list(st.faults)})
        if p == "revoke" and m == "POST":
            body = self.cjson()
            if "company" not in body:
                raise bad("company is required")
            comp = str(body["company"])
            with st.lock:
                n = st.revoke_where(lambda x: x["company"] == comp)
                for c in st.codes.values():
                    if c["company"] == comp:
                        c["used"] = True
            raise json_reply(200, {"revoked": n})
        if p == "tokens" and m == "GET":
            comp = self.query.get("company")
            with st.lock:
                now = st.now()

                def rows(table, usable):
                    return [dict(token=t, client_id=r["client_id"], company=r["company"],
                                 grant=r["grant"], expires_at=int(r["expires_at"]),
                                 **({"used": r["used"]} if "used" in r else {}))
                            for t, r in table.items()
                            if usable(r) and (comp is None or r["company"] == str(comp))]
                out = {"refresh_tokens": rows(st.refresh, st.refresh_usable),
                       "access_tokens": rows(st.access, st.access_usable), "now": int(now)}
            raise json_reply(200, out)
        if p == "fixture" and m in ("GET", "POST"):
            if m == "POST":
                try:
                    fx = check_fixture(self.cjson())
                except ValueError as e:
                    raise bad(str(e))
                with st.lock:
                    st.fixture = fx
                    if st.consent["company"] and st.company(st.consent["company"]) is None:
                        st.consent = {"mode": "interactive", "company": None}
            with st.lock:
                raise json_reply(200, st.fixture)
        raise json_reply(404, {"error": "no such control endpoint"})


# ---------------------------------------------------------------- main

class Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128

    def handle_error(self, request, client_address):
        if self.verbose:
            super().handle_error(request, client_address)


def main():
    ap = argparse.ArgumentParser(description="FreeAgent stand-in for fa's tests")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--fixture")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--issued", help="append every token issued to this file")
    args = ap.parse_args()

    fixture = default_fixture()
    if args.fixture:
        try:
            with open(args.fixture, encoding="utf-8") as fh:
                fixture = check_fixture(json.load(fh))
        except (OSError, ValueError) as e:
            sys.exit("standin: %s: %s" % (args.fixture, e))

    srv = Server(("127.0.0.1", args.port), Handler)
    srv.verbose = args.verbose
    srv.state = State(fixture)
    srv.state.issued = args.issued
    port = srv.server_address[1]

    def stop(signum, frame):
        raise SystemExit(0)
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)

    if args.port_file:
        tmp = "%s.tmp.%d" % (args.port_file, os.getpid())
        with open(tmp, "w") as fh:
            fh.write("%d\n" % port)
        os.replace(tmp, args.port_file)
    if args.verbose:
        sys.stderr.write("standin: listening on http://127.0.0.1:%d\n" % port)
    try:
        srv.serve_forever(poll_interval=0.2)
    finally:
        srv.server_close()
        if args.port_file:
            try:
                os.unlink(args.port_file)
            except OSError:
                pass


if __name__ == "__main__":
    main()
