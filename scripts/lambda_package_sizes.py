#!/usr/bin/env python3
"""Each Lambda package's size against the 3,000,000 B goal, as a Markdown table.

    python3 scripts/lambda_package_sizes.py [target/lambda]

Reads <dir>/<function>/bootstrap.zip (`scripts/lambda-build --output-format zip`) for
every function in functions/, and searches the stripped binary for two markers: the
first bytes of crc-fast's CRC-16/ARC table (its CRC tables are linked) and an
`encoding_rs` label (its decoders are linked).
"""
import os
import sys
import zipfile

GOAL = 3_000_000
CRC16_ARC = bytes.fromhex("0000c1c081c14001")
ENCODING_RS = b"x-mac-cyrillic"


def row(root, name):
    path = os.path.join(root, name, "bootstrap.zip")
    if not os.path.exists(path):
        return f"| {name} | | not built | | | |"
    size = os.path.getsize(path)
    with zipfile.ZipFile(path) as package:
        binary = package.read("bootstrap")
    over = size - GOAL
    against = f"{over:,} B over ({over / GOAL:.1%})" if over > 0 else f"{-over:,} B under"
    crc = "yes" if CRC16_ARC in binary else "no"
    enc = "yes" if ENCODING_RS in binary else "no"
    return f"| {name} | {len(binary):,} B | {size:,} B | {against} | {crc} | {enc} |"


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else "target/lambda"
    print("| function | arm64 binary (stripped) | arm64 zip | against 3,000,000 B | CRC tables | encoding_rs |")
    print("|---|---|---|---|---|---|")
    for name in sorted(os.listdir("functions")):
        print(row(root, name))


if __name__ == "__main__":
    main()
