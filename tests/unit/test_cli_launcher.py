"""The fast launcher (python -I -S) finds berth's package itself: no symlink, no site-packages."""

import os
import subprocess
import sys

from berth.cli import launcher


def test_the_launcher_runs_the_cli_from_the_package_this_python_imports(tmp_path):
    script = tmp_path / "berth"
    script.write_text(launcher.render(sys.executable))
    script.chmod(0o755)
    done = subprocess.run([str(script), "--version"], capture_output=True, text=True, env={"PATH": os.defpath})
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("berth version ")
    assert launcher.berth_package() in script.read_text()


def test_the_launcher_starts_python_isolated_and_without_site():
    assert launcher.render("/usr/bin/python3", "/opt/x/berth").startswith("#!/usr/bin/python3 -IS\n")
