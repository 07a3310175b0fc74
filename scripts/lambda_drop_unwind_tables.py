#!/usr/bin/env python3
"""Drops the unwind tables from the Lambda binaries, and zips them again
(scripts/lambda-build runs this after `cargo lambda build`).

    python3 scripts/lambda_drop_unwind_tables.py <llvm-objcopy> <lambda dir>

For each <lambda dir>/<function>/bootstrap, and the bootstrap inside each
bootstrap.zip (cargo-lambda's zip output writes only the zip), that still has them,
`.eh_frame` and `.eh_frame_hdr` are removed with llvm-objcopy, which keeps the file's
layout and leaves zeros where they were; such a zip is written again around the new
binary (deflate level 9, mode 0755). The functions abort on panic,
so nothing unwinds: the tables served only the panic's backtrace, which the stripped
binaries print as bare addresses (docs/DECISIONS.md, "Lambda packages without unwind
tables"). rustc emits them even with `-C force-unwind-tables=no`.
"""
import os
import subprocess
import sys
import tempfile
import zipfile

SECTIONS = (".eh_frame", ".eh_frame_hdr")


def has_section(objcopy, binary, name):
    readelf = os.path.join(os.path.dirname(objcopy), "llvm-readobj")
    listing = subprocess.run(
        [readelf, "--sections", binary], check=True, capture_output=True, text=True
    ).stdout
    return f"Name: {name} (" in listing


def drop_tables(objcopy, binary):
    present = [name for name in SECTIONS if has_section(objcopy, binary, name)]
    if present:
        args = [f"--remove-section={name}" for name in present]
        subprocess.run([objcopy, *args, binary], check=True)
    return present


def rezip(binary, package):
    info = zipfile.ZipInfo("bootstrap", date_time=(1980, 1, 1, 0, 0, 0))
    info.external_attr = 0o100755 << 16
    info.create_system = 3  # Unix, so Lambda reads the mode
    info.compress_type = zipfile.ZIP_DEFLATED
    with open(binary, "rb") as source:
        data = source.read()
    partial = package + ".part"
    with zipfile.ZipFile(partial, "w") as archive:
        archive.writestr(info, data, compresslevel=9)
    os.replace(partial, package)


def repack(objcopy, package):
    with zipfile.ZipFile(package) as archive:
        data = archive.read("bootstrap")
    with tempfile.TemporaryDirectory() as scratch:
        binary = os.path.join(scratch, "bootstrap")
        with open(binary, "wb") as out:
            out.write(data)
        dropped = drop_tables(objcopy, binary)
        if dropped:
            rezip(binary, package)
    return dropped


def main(objcopy, lambda_dir):
    for function in sorted(os.listdir(lambda_dir)):
        for name, drop in (("bootstrap", drop_tables), ("bootstrap.zip", repack)):
            path = os.path.join(lambda_dir, function, name)
            if os.path.isfile(path):
                dropped = drop(objcopy, path)
                print(
                    f"==> {function}/{name}: dropped {', '.join(dropped) or 'nothing'};"
                    f" {os.path.getsize(path):,} B"
                )


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    main(*sys.argv[1:])
