#!/usr/bin/env python3
"""Run moto as a single-threaded AWS-compatible HTTP server for the integration tests.

moto's stock `moto_server` serves requests on many threads, and moto 5.2.x can lose
Kinesis records under concurrent PutRecord(s) calls. Serving one request at a time
avoids that; concurrent clients simply queue on the listen socket.

Usage: moto_server.py [--host 127.0.0.1] [--port 0] [--port-file PATH]
--port 0 (the default) picks a free port; --port-file receives the chosen port.
"""

import argparse
import os
import socket

from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import run_simple


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 = pick a free port")
    parser.add_argument("--port-file", help="write the chosen port to this file")
    args = parser.parse_args()

    port = args.port or free_port(args.host)
    # moto uses MOTO_PORT when it builds URLs that point back at itself.
    os.environ["MOTO_PORT"] = str(port)
    if args.port_file:
        with open(args.port_file, "w") as f:
            f.write(f"{port}\n")

    app = DomainDispatcherApplication(create_backend_app)
    run_simple(args.host, port, app, threaded=False, use_reloader=False)


if __name__ == "__main__":
    main()
