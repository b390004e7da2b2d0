#!/usr/bin/env python3
"""Every module a target imports is declared as its dependency in Package.swift.

SwiftPM lets a target import what its dependencies depend on, so an undeclared import builds today
and breaks when a dependency drops it. Reads the targets from `swift package dump-package` and the
imports from each target's sources (Sources/NAME or Tests/NAME). Exit 1 and a list when any is missing.
"""
import json, os, re, subprocess, sys

SYSTEM = {"Foundation", "FoundationXML", "FoundationNetworking", "FoundationEssentials", "Dispatch", "Glibc", "Musl",
          "Darwin", "Testing", "XCTest", "_Concurrency", "Synchronization", "os"}
root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
package = json.loads(subprocess.run(["swift", "package", "dump-package"], cwd=root, check=True,
                                    capture_output=True, text=True).stdout)
importing = re.compile(r"^[ \t]*(?:(?:@testable|@_exported|@preconcurrency|@_implementationOnly|@_weakLinked|@_spi\(\w+\)|public|internal|package|private|fileprivate)[ \t]+)*"
                       r"import[ \t]+(?:(?:typealias|struct|class|enum|protocol|let|var|func)[ \t]+)?([A-Za-z_]\w*)", re.M)
problems = []
for target in package["targets"]:
    name = target["name"]
    directory = target.get("path") or os.path.join("Tests" if target["type"] == "test" else "Sources", name)
    declared = set()
    for dependency in target["dependencies"]:
        kind, value = next(iter(dependency.items()))
        declared.add(value[0])
    for folder, _, files in os.walk(os.path.join(root, directory)):
        for file in files:
            if not file.endswith(".swift"):
                continue
            for module in importing.findall(open(os.path.join(folder, file)).read()):
                if module not in SYSTEM and module not in declared and module != name:
                    problems.append(f"{name}: {os.path.relpath(os.path.join(folder, file), root)} imports {module}, which Package.swift does not declare for it")
for problem in sorted(set(problems)):
    print(problem)
print(f"check-imports: {len(package['targets'])} targets, {len(set(problems))} undeclared import(s)")
sys.exit(1 if problems else 0)
