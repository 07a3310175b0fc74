#!/usr/bin/env python3
"""A local Lambda Runtime API stand-in that times cold starts of Lambda bootstraps.

For each run it spawns a fresh bootstrap process pointed at this server (on 127.0.0.1),
serves it one invocation and records, from just before the spawn:
  init      the first GET /2018-06-01/runtime/invocation/next (the runtime is ready),
  response  the POST .../invocation/{id}/response or /error of that invocation.
Then it kills the process, so every run is a cold start (the binary stays in the OS
page cache: this is process init, not Lambda's download and unzip). The functions take
turns (run 1 of each, then run 2 of each, ...), so the machine's load changes fall on
all of them alike; with lambda-baseline first, each median and p90 is also given as a
ratio to the baseline's.

The functions get every setting they read (shared/aws/src/settings.rs, the template's
variables) with placeholder values. AWS_ENDPOINT_URL points at a trap listener on
127.0.0.1 that counts connections and answers 500: init does no network I/O, and the
count proves it. The invocation payloads are ones the handlers answer without AWS calls.

Usage: lambda_runtime_standin.py --bin-dir DIR [--zip-dir ZDIR] [--runs 20] [--json OUT] FUNCTION...
DIR/<function>/bootstrap must exist. Prints a Markdown table; with --zip-dir, also the
size of ZDIR/<function>/bootstrap.zip (the arm64 package) and whether it is <= 3 MB.
"""

import argparse
import base64
import json
import math
import os
import socket
import subprocess
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

RUNTIME_PREFIX = "/2018-06-01/runtime"
RUN_TIMEOUT_S = 30.0

SETTINGS = {
    "CONFIG_TABLE": "cjaas-config",
    "TAPE_TABLE": "cjaas-tape",
    "EVENT_STREAM": "cjaas-events",
    "EVENT_BUS": "cjaas-bus",
    "ARCHIVE_BUCKET": "cjaas-archive",
    "DEAD_LETTER_BUCKET": "cjaas-dead-letters",
    "CJAAS_SIGNING_KEYS": "k1:" + base64.b64encode(b"cold-start-signing-key-32-bytes!").decode(),
    "CJAAS_STAGE": "dev",
    "STREAM_RETENTION_HOURS": "24",
    "RUST_LOG": "info",
}


def http_event(path, method="GET"):
    """An API Gateway HTTP API (payload 2.0) / function URL request with no credential."""
    return {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": "",
        "headers": {"host": "api.example.com", "user-agent": "cold-start"},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "api",
            "domainName": "api.example.com",
            "domainPrefix": "api",
            "http": {
                "method": method,
                "path": path,
                "protocol": "HTTP/1.1",
                "sourceIp": "127.0.0.1",
                "userAgent": "cold-start",
            },
            "requestId": "cold-start",
            "routeKey": "$default",
            "stage": "$default",
            "time": "01/Jan/2026:00:00:00 +0000",
            "timeEpoch": 1767225600000,
        },
        "isBase64Encoded": False,
    }


def eventbridge_event(source, detail_type):
    return {
        "version": "0",
        "id": "cold-start",
        "detail-type": detail_type,
        "source": source,
        "account": "123456789012",
        "time": "2026-01-01T00:00:00Z",
        "region": "us-east-1",
        "resources": [],
        "detail": {},
    }


# One invocation per function that its handler answers without an AWS call.
PAYLOADS = {
    "lambda-baseline": {"cold": "start"},  # echoed back
    "ingest": http_event("/v1/events", "POST"),  # no credential: 401
    "query": http_event("/v1/persons/p1/journey"),
    "admin-api": http_event("/v1/keys"),
    "profile": http_event("/v1/persons/p1/profile"),
    "rules-api": http_event("/v1/rules"),
    "audiences": http_event("/v1/audiences"),
    "console": http_event("/"),  # the console page: 200, no credential
    "analytics-api": http_event("/v1/analytics"),
    "stream": http_event("/v1/stream"),
    "authorizer": {
        "version": "2.0",
        "type": "REQUEST",
        "routeArn": "arn:aws:execute-api:us-east-1:123456789012:api/$default/GET/v1/keys",
        "identitySource": [],
        "routeKey": "GET /v1/keys",
        "rawPath": "/v1/keys",
        "rawQueryString": "",
        "headers": {},
        "requestContext": http_event("/v1/keys")["requestContext"],
    },
    "tape-writer": {"Records": []},
    "archiver": {"Records": []},
    "orchestrator": {"Records": []},
    "analytics": eventbridge_event("cold.start", "Unknown"),
    "maintenance": eventbridge_event("cold.start", "Unknown"),
    "backtests": eventbridge_event("cold.start", "Unknown"),
    "actions": eventbridge_event("cold.start", "Unknown"),
    "tenant-admin": {"command": "cold-start-unknown"},
}


class Run:
    """One cold start: what the stand-in saw, in ns after the spawn."""

    def __init__(self, payload):
        self.request_id = str(uuid.uuid4())
        self.payload = json.dumps(payload).encode()
        self.t0 = 0
        self.init_ns = None
        self.response_ns = None
        self.outcome = None
        self.served = False
        self.done = threading.Event()
        self.release = threading.Event()


class State:
    lock = threading.Lock()
    endpoint_connections = 0


def read_body(handler):
    """The request body, de-chunked when the runtime streams its response."""
    if handler.headers.get("Transfer-Encoding", "").lower() == "chunked":
        body = b""
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                return body
            body += handler.rfile.read(size)
            handler.rfile.readline()
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


class RuntimeApi(BaseHTTPRequestHandler):
    """The Runtime API for one run (each run gets its own port: a killed process's
    late request can never be taken for the next process's)."""

    protocol_version = "HTTP/1.1"
    run = None

    def log_message(self, *_):
        pass

    def reply(self, status, body=b"{}", headers=None):
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        now = time.perf_counter_ns()
        run = self.run
        if self.path != f"{RUNTIME_PREFIX}/invocation/next":
            return self.reply(404)
        with State.lock:
            first = not run.served
            run.served = True
            if first:
                run.init_ns = now - run.t0
        if not first:
            # The runtime asks for its next invocation: hold it until the run ends.
            run.release.wait(RUN_TIMEOUT_S)
            self.close_connection = True
            return
        deadline_ms = int(time.time() * 1000) + 30_000
        self.reply(
            200,
            run.payload,
            {
                "Lambda-Runtime-Aws-Request-Id": run.request_id,
                "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
                "Lambda-Runtime-Invoked-Function-Arn": "arn:aws:lambda:us-east-1:123456789012:function:cold-start",
                "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000;Sampled=0",
            },
        )

    def do_POST(self):
        body = read_body(self)
        now = time.perf_counter_ns()
        run = self.run
        if self.path == f"{RUNTIME_PREFIX}/init/error":
            run.outcome = "init error: " + body.decode(errors="replace")[:200]
            self.reply(202, b'{"status":"OK"}')
            run.done.set()
            return
        prefix = f"{RUNTIME_PREFIX}/invocation/{run.request_id}/"
        if not self.path.startswith(prefix):
            return self.reply(404)
        kind = self.path[len(prefix):]
        run.response_ns = now - run.t0
        run.outcome = describe(kind, body)
        self.reply(202, b'{"status":"OK"}')
        run.done.set()


def describe(kind, body):
    """A short label for what the handler answered: an HTTP status, ok or an error."""
    if kind == "error":
        try:
            return "error " + json.loads(body).get("errorType", "?")
        except ValueError:
            return "error"
    if b"\0" * 8 in body:  # streaming: JSON prelude, 8 NULs, body
        body = body.split(b"\0" * 8, 1)[0]
    try:
        value = json.loads(body)
    except ValueError:
        return "ok"
    if isinstance(value, dict) and "statusCode" in value:
        return f"HTTP {value['statusCode']}"
    return "ok"


class EndpointTrap(BaseHTTPRequestHandler):
    """AWS_ENDPOINT_URL: counts every connection a function makes, answers 500."""

    protocol_version = "HTTP/1.1"

    def log_message(self, *_):
        pass

    def handle(self):
        with State.lock:
            State.endpoint_connections += 1
        try:
            self.raw_requestline = self.rfile.readline(65537)
            body = b'{"__type":"ColdStartTrap","message":"no AWS here"}'
            self.wfile.write(
                b"HTTP/1.1 500 Internal Server Error\r\nContent-Type: application/json\r\n"
                + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
        except OSError:
            pass


class QuietServer(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # a killed bootstrap resets its connections: expected


def serve(handler):
    server = QuietServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def cold_start(bootstrap, env, payload):
    run = Run(payload)
    runtime = serve(type("RunRuntimeApi", (RuntimeApi,), {"run": run}))
    env = {**env, "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{runtime.server_port}"}
    run.t0 = time.perf_counter_ns()
    proc = subprocess.Popen(
        [bootstrap], env=env, stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    finished = run.done.wait(RUN_TIMEOUT_S)
    proc.kill()
    proc.wait()
    run.release.set()
    runtime.shutdown()
    runtime.server_close()
    if not finished:
        run.outcome = run.outcome or f"timeout (exit {proc.returncode})"
    return run


def percentile(values, p):
    """Nearest-rank percentile."""
    ordered = sorted(values)
    return ordered[max(0, math.ceil(p / 100 * len(ordered)) - 1)]


ZIP_LIMIT_BYTES = 3_000_000  # "3 MB", read strictly (3 MiB would allow 3,145,728)


def zip_size(zip_dir, name):
    if not zip_dir:
        return None
    path = os.path.join(zip_dir, name, "bootstrap.zip")
    return os.path.getsize(path) if os.path.exists(path) else None


def fmt_zip(size):
    if size is None:
        return "n/a"
    verdict = "" if size <= ZIP_LIMIT_BYTES else " (over 3 MB)"
    return f"{size / 1e6:.2f} MB{verdict}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin-dir", required=True)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--zip-dir", help="where the arm64 packages are: <fn>/bootstrap.zip")
    parser.add_argument("--json", help="write every run's figures here")
    parser.add_argument("functions", nargs="+")
    args = parser.parse_args()

    trap = serve(EndpointTrap)
    base_env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/cold-start",
        "AWS_LAMBDA_LOG_STREAM_NAME": "cold-start",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "test",
        "AWS_SECRET_ACCESS_KEY": "test",
        "AWS_ENDPOINT_URL": f"http://127.0.0.1:{trap.server_port}",
        "AWS_MAX_ATTEMPTS": "1",
        **SETTINGS,
    }

    # Round robin: run i of every function before run i+1 of any, so a change in the
    # machine's load falls on all of them alike and the ratios to the baseline hold.
    envs = {name: {**base_env, "AWS_LAMBDA_FUNCTION_NAME": name} for name in args.functions}
    runs = {name: [] for name in args.functions}
    connections = {name: 0 for name in args.functions}
    for _ in range(args.runs):
        for name in args.functions:
            bootstrap = os.path.join(args.bin_dir, name, "bootstrap")
            before = State.endpoint_connections
            runs[name].append(cold_start(bootstrap, envs[name], PAYLOADS[name]))
            connections[name] += State.endpoint_connections - before

    results = {}
    baseline = "lambda-baseline"
    print("| function | arm64 zip | init median | init p90 | first response median | p90 "
          "| init median / baseline | init p90 / baseline | answer | AWS connections |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in args.functions:
        inits = [r.init_ns / 1e6 for r in runs[name] if r.init_ns is not None]
        answers = [r.response_ns / 1e6 for r in runs[name] if r.response_ns is not None]
        outcomes = sorted({r.outcome or "none" for r in runs[name]})
        if len(inits) < args.runs or len(answers) < args.runs:
            print(f"{name}: {args.runs - len(answers)} runs without an answer: {outcomes}", file=sys.stderr)
        zip_bytes = zip_size(args.zip_dir, name)
        results[name] = {"init_ms": inits, "response_ms": answers, "outcomes": outcomes,
                         "aws_connections": connections[name], "zip_bytes": zip_bytes}
        fmt = lambda xs, p: f"{percentile(xs, p):.1f} ms" if xs else "n/a"
        base = results.get(baseline, {}).get("init_ms")
        ratio = lambda p: f"{percentile(inits, p) / percentile(base, p):.2f}x" if base and inits else "n/a"
        print(f"| {name} | {fmt_zip(zip_bytes)} | {fmt(inits, 50)} | {fmt(inits, 90)} | {fmt(answers, 50)} | "
              f"{fmt(answers, 90)} | {ratio(50)} | {ratio(90)} | {', '.join(outcomes)} | "
              f"{connections[name]} |", flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
