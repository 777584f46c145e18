#!/usr/bin/env python3
"""Turns the kernel's `libhermit.a` into the archive a Hermit application links.

What the upstream build tool does, in three steps:
1. every defined global symbol except the kernel's ABI (`sys_*`, `_start`, `__bss_start`,
   `mcount`, `runtime_entry`) gets a private prefix, so the kernel's own copies of core, alloc
   and compiler-builtins never clash with the application's;
2. the builtins object (math and memory functions for the application) is appended;
3. every ELF member's OSABI byte is set to 0xff (standalone), which marks a Hermit object.

The output is replaced only when its content changes, so that the application's build
script (which watches it) does not relink a kernel that stayed the same.
"""

import os
import subprocess
import sys
import tempfile

USAGE = "usage: libhermit.py LLVM_BIN_DIR KERNEL_ARCHIVE BUILTINS_OBJECT OUTPUT_ARCHIVE"
PRIVATE_PREFIX = "__hermit_kernel_"
KEPT_NAMES = {"_start", "__bss_start", "mcount", "runtime_entry"}
KEPT_PREFIX = "sys_"

ELF_MAGIC = b"\x7fELF"
EI_OSABI = 7
ELFOSABI_STANDALONE = 0xFF
AR_MAGIC = b"!<arch>\n"
AR_HEADER_LEN = 60


def exported_symbols(llvm_bin, archive):
    """The defined global symbols of every member, one of each."""
    out = subprocess.run(
        [os.path.join(llvm_bin, "llvm-nm"), "--export-symbols", archive],
        check=True, capture_output=True, text=True,
    ).stdout
    return [line for line in out.splitlines() if line]


def is_kept(symbol):
    return symbol in KEPT_NAMES or symbol.startswith(KEPT_PREFIX)


def mark_standalone(path):
    """Sets the OSABI byte of every ELF member in the archive at `path`, in place."""
    with open(path, "r+b") as archive:
        data = bytearray(archive.read())
        if not data.startswith(AR_MAGIC):
            sys.exit(f"libhermit.py: {path} is not an ar archive")
        offset = len(AR_MAGIC)
        while offset + AR_HEADER_LEN <= len(data):
            size = int(data[offset + 48:offset + 58].decode("ascii").strip())
            member = offset + AR_HEADER_LEN
            if data[member:member + 4] == ELF_MAGIC:
                data[member + EI_OSABI] = ELFOSABI_STANDALONE
            # Members start on even offsets.
            offset = member + size + (size & 1)
        archive.seek(0)
        archive.write(data)


def main():
    if len(sys.argv) != 5:
        sys.exit(USAGE)
    llvm_bin, kernel, builtins, output = sys.argv[1:]

    out_dir = os.path.dirname(os.path.abspath(output))
    with tempfile.TemporaryDirectory(dir=out_dir) as scratch:
        renames = os.path.join(scratch, "renames")
        with open(renames, "w") as f:
            for symbol in exported_symbols(llvm_bin, kernel):
                if not is_kept(symbol):
                    f.write(f"{symbol} {PRIVATE_PREFIX}{symbol}\n")

        archive = os.path.join(scratch, "libhermit.a")
        subprocess.run(
            [os.path.join(llvm_bin, "llvm-objcopy"), f"--redefine-syms={renames}", kernel, archive],
            check=True,
        )
        subprocess.run([os.path.join(llvm_bin, "llvm-ar"), "rs", archive, builtins], check=True)
        mark_standalone(archive)

        with open(archive, "rb") as f:
            new = f.read()
        try:
            with open(output, "rb") as f:
                unchanged = f.read() == new
        except FileNotFoundError:
            unchanged = False
        if not unchanged:
            os.replace(archive, output)


if __name__ == "__main__":
    main()
