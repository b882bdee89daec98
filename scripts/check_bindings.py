#!/usr/bin/env python3
"""Checks the generated bindings that cannot run on this machine as far as they can be
checked here, and runs the Python bindings for real.

    scripts/check_bindings.py OUT_DIR LIB_SO KOTLINC CLASSPATH

OUT_DIR is what scripts/gen-bindings.sh produced. Ends with `N passed, N failed`.
"""
import os
import re
import subprocess
import sys
import tempfile

OUT, LIB, KOTLINC, CP = sys.argv[1:5]
SWIFT_DIR = os.path.join(OUT, "swift")
results = []


def check(name):
    def wrap(fn):
        try:
            fn()
            results.append((name, None))
            print(f"ok   {name}")
        except Exception as e:  # noqa: BLE001 - every failure is reported, none is fatal
            results.append((name, e))
            print(f"FAIL {name}: {e}")
        sys.stdout.flush()
        return fn
    return wrap


def read(path):
    with open(path, encoding="utf-8") as f:
        return f.read()


def swift_source():
    files = [f for f in os.listdir(SWIFT_DIR) if f.endswith(".swift")]
    assert files == ["SetlinkFFI.swift"], f"expected SetlinkFFI.swift, found {files}"
    return read(os.path.join(SWIFT_DIR, files[0]))


@check("swift: modulemap module name matches the module the Swift source imports")
def _():
    src = swift_source()
    imports = set(re.findall(r"^\s*import\s+(\w+)", src, re.M)) - {"Foundation"}
    can_imports = set(re.findall(r"canImport\((\w+)\)", src))
    for mm in ("module.modulemap", "setlink_ffiFFI.modulemap"):
        text = read(os.path.join(SWIFT_DIR, mm))
        modules = re.findall(r"^\s*module\s+(\w+)\s*\{", text, re.M)
        assert len(modules) == 1, f"{mm}: expected one module, found {modules}"
        assert imports == {modules[0]} == can_imports, (
            f"{mm} declares module {modules[0]}, Swift imports {imports} / canImport {can_imports}")
        headers = re.findall(r'header\s+"([^"]+)"', text)
        assert headers, f"{mm} names no header"
        for h in headers:
            assert os.path.isfile(os.path.join(SWIFT_DIR, h)), f"{mm} names missing header {h}"


def header_functions():
    text = read(os.path.join(SWIFT_DIR, "setlink_ffiFFI.h"))
    # Function declarations start at column 0 with a return type, then `name(`.
    names = re.findall(r"^[A-Za-z_][\w \*]*?\b((?:uniffi|ffi)_setlink_ffi_\w+)\(", text, re.M)
    assert names, "no functions found in the header"
    return sorted(set(names))


@check("swift: every FFI function the Swift source calls is declared in the header")
def _():
    declared = set(header_functions())
    used = set(re.findall(r"\b((?:uniffi|ffi)_setlink_ffi_\w+)\(", swift_source()))
    missing = used - declared
    assert not missing, f"called but not declared: {sorted(missing)}"
    assert len(used) > 10, f"suspiciously few FFI calls in Swift: {len(used)}"


@check("swift: the header compiles, every declared function links against the library, "
       "and the library's checksums are the ones the Swift source expects")
def _():
    funcs = header_functions()
    src = swift_source()
    checksums = re.findall(r"if \((uniffi_setlink_ffi_checksum_\w+)\(\) != (\d+)\)", src)
    assert checksums, "no checksums in the Swift source"
    contract = re.search(r"let bindings_contract_version = (\d+)", src)
    assert contract, "no contract version in the Swift source"
    lines = ['#include <stdio.h>', '#include "setlink_ffiFFI.h"',
             "static void *const all[] = {"]
    lines += [f"  (void *){f}," for f in funcs]
    lines += ["};", "int main(void) {", "  int bad = 0;",
              f"  if (ffi_setlink_ffi_uniffi_contract_version() != {contract.group(1)}u) {{"
              ' printf("contract version mismatch\\n"); bad++; }']
    for name, value in checksums:
        lines.append(f'  if ({name}() != {value}) {{ printf("checksum mismatch: {name}\\n"); bad++; }}')
    lines += ['  printf("%d functions linked, %d checksums\\n", (int)(sizeof all / sizeof *all), '
              f"{len(checksums)});", "  return bad != 0;", "}"]
    with tempfile.TemporaryDirectory() as tmp:
        c = os.path.join(tmp, "link.c")
        with open(c, "w") as f:
            f.write("\n".join(lines) + "\n")
        exe = os.path.join(tmp, "link")
        libdir = os.path.dirname(os.path.abspath(LIB))
        subprocess.run(["cc", "-std=c11", "-Wall", "-Werror", "-D_Nonnull=", "-D_Nullable=",
                        "-I", SWIFT_DIR, c, "-o", exe, "-L", libdir, "-lsetlink_ffi",
                        f"-Wl,-rpath,{libdir}"], check=True, capture_output=True, text=True)
        r = subprocess.run([exe], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr
        print("     " + r.stdout.strip())


ANDROID_ONLY = re.compile(r"unresolved reference '(android|androidx|Build|RequiresApi)'")


@check("kotlin android flavour: compiles with kotlinc against JNA and coroutines; "
       "the only unresolved names are the Android SDK's (android.os.Build, "
       "android.system.SystemCleaner, androidx.annotation.RequiresApi)")
def _():
    src = os.path.join(OUT, "kotlin-android")
    kt = read(os.path.join(src, "dev/setlink/ffi/setlink_ffi.kt"))
    assert "android.system.SystemCleaner" in kt, "Android flavour lacks the Android cleaner"
    jvm = read(os.path.join(OUT, "kotlin-jvm/dev/setlink/ffi/setlink_ffi.kt"))
    assert "android." not in jvm, "JVM flavour references Android classes"
    with tempfile.TemporaryDirectory() as tmp:
        r = subprocess.run([KOTLINC, "-nowarn", "-cp", CP, "-d", tmp, src],
                           capture_output=True, text=True)
    errors = [l for l in (r.stdout + r.stderr).splitlines() if ": error: " in l]
    other = [e for e in errors if not ANDROID_ONLY.search(e)]
    assert not other, "errors besides the Android SDK's:\n" + "\n".join(other[:20])
    assert errors, "expected the Android SDK references to be unresolved here"


@check("python: the generated module runs against the library (store, identity, typed errors)")
def _():
    code = r'''
import sys, tempfile, os
sys.path.insert(0, sys.argv[1])
import setlink_ffi as s
d = tempfile.mkdtemp()
store = s.SetlinkStore.open(os.path.join(d, "p.db"))
ident = store.set_identity("m-py", s.Role.PA)
assert ident.member_id == "m-py" and ident.role == s.Role.PA, ident
try:
    s.parse_document_id("nope")
    raise SystemExit("no error for a bad id")
except s.SetlinkError.InvalidId as e:
    assert e.value == "nope", e
store.close_store()
try:
    store.identity()
    raise SystemExit("closed store answered")
except s.SetlinkError.StoreClosed:
    pass
print("python bindings ok")
'''
    env = dict(os.environ)
    pydir = os.path.join(OUT, "python")
    # The generated module loads the library from its own directory.
    libcopy = os.path.join(pydir, os.path.basename(LIB))
    if not os.path.exists(libcopy):
        os.symlink(os.path.abspath(LIB), libcopy)
    r = subprocess.run([sys.executable, "-c", code, pydir], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stdout + r.stderr


ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_script(name, out):
    env = dict(os.environ, SETLINK_HOST_LIB=os.path.abspath(LIB))
    r = subprocess.run([os.path.join(ROOT, "scripts", name), "--sources-only", out],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]


@check("ios.sh --sources-only: Package.swift's binaryTarget is the module the Swift imports, "
       "with the generated Swift and the header + module.modulemap for the xcframework")
def _():
    with tempfile.TemporaryDirectory() as out:
        run_script("ios.sh", out)
        pkg = os.path.join(out, "SetlinkFFI")
        manifest = read(os.path.join(pkg, "Package.swift"))
        swift = read(os.path.join(pkg, "Sources/SetlinkFFI/SetlinkFFI.swift"))
        assert swift == swift_source(), "packaged Swift differs from the generated Swift"
        module = re.search(r'\.binaryTarget\(name: "(\w+)", path: "([^"]+)"\)', manifest)
        assert module, "no binaryTarget in Package.swift"
        name, path = module.groups()
        imported = set(re.findall(r"^\s*import\s+(\w+)", swift, re.M)) - {"Foundation"}
        assert imported == {name}, f"binaryTarget {name}, Swift imports {imported}"
        assert path == f"{name}.xcframework", f"binaryTarget path {path}"
        assert f'dependencies: ["{name}"]' in manifest, "SetlinkFFI target does not depend on it"
        mm = read(os.path.join(out, "headers", name, "module.modulemap"))
        assert re.search(rf"^\s*module\s+{name}\s*\{{", mm, re.M), "headers' modulemap names another module"
        header = re.search(r'header\s+"([^"]+)"', mm).group(1)
        assert os.path.isfile(os.path.join(out, "headers", name, header)), "modulemap's header missing"


@check("android.sh --sources-only: a Gradle library module with the Android-flavour Kotlin, "
       "JNA's aar, coroutines and keep rules")
def _():
    with tempfile.TemporaryDirectory() as out:
        run_script("android.sh", out)
        mod = os.path.join(out, "setlink")
        kt = read(os.path.join(mod, "src/main/kotlin/dev/setlink/ffi/setlink_ffi.kt"))
        assert kt == read(os.path.join(OUT, "kotlin-android/dev/setlink/ffi/setlink_ffi.kt")), \
            "packaged Kotlin is not the Android flavour"
        gradle = read(os.path.join(mod, "build.gradle.kts"))
        for dep in ("net.java.dev.jna:jna:", "@aar", "kotlinx-coroutines-android", "androidx.annotation"):
            assert dep in gradle, f"build.gradle.kts lacks {dep}"
        assert 'include(":setlink")' in read(os.path.join(out, "settings.gradle.kts"))
        assert "-keep class com.sun.jna.**" in read(os.path.join(mod, "consumer-rules.pro"))
        assert os.path.isdir(os.path.join(mod, "src/main/jniLibs"))


failed = sum(1 for _, e in results if e is not None)
print(f"{len(results) - failed} passed, {failed} failed")
sys.exit(1 if failed else 0)
