#!/usr/bin/env python3
"""Checks that Sources/EdgeCore's folders depend on each other only downwards, as docs/design.md's layer
table says: a file may use what folders of a lower layer declare, never what a folder of its own layer
(other than its own folder) or a higher one declares. Cycles are therefore impossible.

A folder "uses" another when a file of it names a type, function, constant or variable that the other
declares at top level (word match, comments and string literals removed). Prints every violation with
the file and the name; exits 1 if there is any. Also checks that no file outside Contract/ names a C result
code (EDGECORE_E_*, EDGECORE_OK): inside, failures are `Failure` values; and that only Platform/ reads
errno (as an `Errno`).
"""
import os
import re
import sys

# Lowest first; folders in one tuple are one layer (they must not use each other).
LAYERS = [
    ("Common",),
    ("Platform",),
    ("Buffer", "Decode", "Meters"),
    ("Journal",),
    ("Config",),
    ("Engine",),
    ("Modbus", "GPIO", "Local"),
    ("Contract",),
]
LEVEL = {folder: level for level, folders in enumerate(LAYERS) for folder in folders}

DECLARATION = re.compile(
    r"^(?:@\w+(?:\([^)]*\))?\s+)*(?:(?:public|internal|final|indirect)\s+)*"
    r"(?:class|struct|enum|protocol|typealias|func|let|var)\s+([A-Za-z_][A-Za-z0-9_]*)", re.M)
WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A lower-case name (function, constant) counts only where it is called or read as itself: not after a dot
# (a member of the same name) and not where it is declared.
# ...and not where the file declares its own (a method, a local, a parameter) of that name.
LOCAL = r"(?:\b(?:func|let|var|case)\s+{0}\b)|(?:[(,]\s*(?:_\s+)?{0}\s*:)"
FREE = r"(?<![.\w])(?<!func )(?<!var )(?<!let )(?<!case ){}\b(?!\s*:)"


def strip(text):
    """Removes comments and string literals (crudely, enough for names)."""
    text = re.sub(r'"""[\s\S]*?"""', '""', text)
    text = re.sub(r"/\*[\s\S]*?\*/", " ", text)
    text = re.sub(r"//[^\n]*", " ", text)
    text = re.sub(r'"(?:\\.|[^"\\\n])*"', '""', text)
    return text


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", "Sources", "EdgeCore")
    files = {}
    for folder in sorted(os.listdir(root)):
        path = os.path.join(root, folder)
        if not os.path.isdir(path):
            continue
        if folder not in LEVEL:
            print(f"module-map: folder {folder}/ is not in the layer table (toolchain/module-map.py, docs/design.md)")
            return 1
        for name in sorted(os.listdir(path)):
            if name.endswith(".swift"):
                with open(os.path.join(path, name), encoding="utf-8") as handle:
                    files[f"{folder}/{name}"] = strip(handle.read())
    declared = {}
    for file, text in files.items():
        folder = file.split("/")[0]
        for match in DECLARATION.finditer(text):
            name = match.group(1)
            if declared.get(name, folder) != folder:
                print(f"module-map: '{name}' is declared in both {declared[name]}/ and {folder}/")
            declared[name] = folder
    members = {}  # folder -> names it declares at any depth (methods, properties)
    for file, text in files.items():
        members.setdefault(file.split("/")[0], set()).update(re.findall(r"\b(?:func|let|var)\s+([a-z_][A-Za-z0-9_]*)", text))
    problems = 0
    edges = {}
    for file, text in files.items():
        folder = file.split("/")[0]
        for name in sorted(set(WORD.findall(text))):
            owner = declared.get(name)
            if owner is None or owner == folder:
                continue
            if name[0].islower() and (name in members.get(folder, ()) or not re.search(FREE.format(re.escape(name)), text)
                                      or re.search(LOCAL.format(re.escape(name)), text)):
                continue
            edges.setdefault((folder, owner), name)
            if LEVEL[owner] >= LEVEL[folder]:
                problems += 1
                print(f"module-map: {file} uses '{name}' of {owner}/ ({owner}/ is not below {folder}/)")
    # Failures become C result codes only in Contract/.
    for file, text in files.items():
        if file.startswith("Contract/"):
            continue
        for code in sorted(set(re.findall(r"\bEDGECORE_(?:E_[A-Z_]+|OK)\b", text))):
            problems += 1
            print(f"module-map: {file} uses the result code {code} (failures become result codes only in Contract/)")
    # errno is read only in Platform/ (as an Errno).
    for file, text in files.items():
        if not file.startswith("Platform/") and re.search(r"\bec_errno\s*\(", text):
            problems += 1
            print(f"module-map: {file} reads errno itself (ec_errno); Platform/ does, as an Errno")
    if problems:
        print(f"module-map: {problems} problems")
        return 1
    print(f"module-map: {len(files)} files, {len(edges)} folder dependencies, all downwards")
    return 0


if __name__ == "__main__":
    sys.exit(main())
