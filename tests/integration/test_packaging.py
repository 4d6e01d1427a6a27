"""What a built wheel of berth holds: every package under core/ and plugins/ (found, not listed), and the
data the code reads at run time (the scaffold templates)."""

import os
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_wheel_holds_every_package_and_the_scaffold_templates(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--disable-pip-version-check", "--no-deps", "-w",
                    str(tmp_path), str(ROOT)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("berth-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for top, package in (("core", "berth"), ("plugins", "berth/plugins")):
        for dirpath, _, files in os.walk(ROOT / top):
            if "__init__.py" in files and "__pycache__" not in dirpath:
                rel = Path(dirpath).relative_to(ROOT / top)
                assert str(Path(package, rel, "__init__.py")) in names, f"package {rel} is missing from the wheel"
    for template in (ROOT / "core" / "scaffolds").rglob("*.tmpl"):
        assert str(Path("berth", template.relative_to(ROOT / "core"))) in names, template
