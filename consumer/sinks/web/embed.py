#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Turn a file into a C array (build step for the live page): embed.py INPUT OUTPUT SYMBOL.
import sys


def main(src, dst, symbol):
    data = open(src, "rb").read()
    lines = ["/* Generated from %s by embed.py: do not edit. */" % src.rsplit("/", 1)[-1],
             "#include <stddef.h>",
             "const unsigned char %s[] = {" % symbol]
    for i in range(0, len(data), 16):
        lines.append("\t" + ", ".join("0x%02x" % b for b in data[i:i + 16]) + ",")
    lines.append("\t0x00")  # a NUL after the end; not counted in the length
    lines.append("};")
    lines.append("const size_t %s_len = %d;" % (symbol, len(data)))
    with open(dst, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], sys.argv[3])
