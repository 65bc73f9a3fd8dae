# Loaded by every python3 the benchmarks start (PYTHONPATH, bench/lib.sh).
# http.server writes a reply's headers and its body in two writes; with
# Nagle's algorithm on, the body waits for the client's delayed ACK of
# the headers, 40 ms on Linux, on every request that has a body. The
# tests never notice; a benchmark of latency does. TCP_NODELAY, as any
# production HTTP server sets it.
import socketserver

socketserver.StreamRequestHandler.disable_nagle_algorithm = True
