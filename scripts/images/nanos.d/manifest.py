#!/usr/bin/env python3
"""Writes a Nanos manifest (the tuple file its mkfs reads) for one program and its files.

    manifest.py PROGRAM [ARG...] < FILES > MANIFEST

FILES has one "IMAGE_PATH HOST_FILE" line per file of the root filesystem; PROGRAM is the
image path of the program Nanos runs, ARGs its arguments after argv[0] (the program's name).
"""

import re
import sys

# What a name or argument may hold unquoted in a manifest tuple.
BARE = re.compile(r"^[A-Za-z0-9._+/=,-]+$")


def fail(message):
    print(f"manifest.py: {message}", file=sys.stderr)
    sys.exit(1)


def bare(value, what):
    if not BARE.match(value):
        fail(f"{what} '{value}' holds characters a manifest cannot take unquoted")
    return value


def tree_of(lines):
    """The files as nested folders: {name: HOST_FILE or {name: ...}}."""
    root = {}
    for line in lines:
        if not line.strip():
            continue
        try:
            image_path, host_file = line.split()
        except ValueError:
            fail(f"expected 'IMAGE_PATH HOST_FILE', got '{line.strip()}'")
        parts = [bare(p, "path part") for p in image_path.strip("/").split("/")]
        folder = root
        for part in parts[:-1]:
            folder = folder.setdefault(part, {})
            if not isinstance(folder, dict):
                fail(f"{image_path}: a parent is also a file")
        if parts[-1] in folder:
            fail(f"{image_path} is listed twice")
        folder[parts[-1]] = bare(host_file, "host path")
    return root


def children(folder):
    entries = []
    for name in sorted(folder):
        entry = folder[name]
        if isinstance(entry, dict):
            entries.append(f"{name}:(children:({children(entry)}))")
        else:
            entries.append(f"{name}:(contents:(host:{entry}))")
    return " ".join(entries)


def main():
    if len(sys.argv) < 2:
        fail("usage: manifest.py PROGRAM [ARG...] < FILES")
    program = bare(sys.argv[1], "program")
    arguments = [program.rsplit("/", 1)[-1]] + [bare(a, "argument") for a in sys.argv[2:]]
    root = tree_of(sys.stdin)
    print("(")
    print(f"    children:({children(root)})")
    print(f"    program:{program}")
    print(f"    arguments:[{' '.join(arguments)}]")
    print("    environment:()")
    print(")")


if __name__ == "__main__":
    main()
