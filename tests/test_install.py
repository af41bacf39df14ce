"""scripts/install.py: pip's settings handed to uv, the fallback to pip, and the kernelspec written last."""

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))

import install  # noqa: E402

from wgf_core.notebook_kernel import PROVISIONER_NAME, install_kernelspec  # noqa: E402

LISTING = """\
global.constraint='/etc/c1.txt'
global.find-links='/nowhere-global'
global.cert='/etc/ssl/certs/ca.crt'
global.extra-index-url='file:///opt/a/simple file:///opt/b/simple'
:env:.find-links='{links}'
:env:.default-timeout='180'
"""


def test_pip_settings_keep_what_changes_the_install_and_later_scopes_override(tmp_path):
    s = install.pip_settings(LISTING.format(links=tmp_path))
    assert set(s) == {"constraint", "find-links", "extra-index-url"}   # cert and timeout do not change what installs
    assert s["find-links"] == [str(tmp_path)]                          # the environment overrides the global file
    assert s["extra-index-url"] == ["file:///opt/a/simple", "file:///opt/b/simple"]


def test_uv_options_drop_locations_that_do_not_exist_and_keep_urls(tmp_path):
    index = tmp_path / "simple"
    index.mkdir()
    settings = {"find-links": [str(tmp_path), str(tmp_path / "missing")],
                "extra-index-url": [index.as_uri(), (tmp_path / "gone").as_uri(), "https://example.org/simple"]}
    opts = install.uv_options(settings)
    assert opts == ["--find-links", str(tmp_path), "--extra-index-url", index.as_uri(),
                    "--extra-index-url", "https://example.org/simple"]


def test_pip_is_the_fallback_when_uv_fails(monkeypatch):
    calls = []

    def fake_run(cmd, dry):
        calls.append(cmd)
        return 1 if cmd[2] == "uv" else 0   # uv installs, then its install of the project fails

    monkeypatch.setattr(install, "run", fake_run)
    assert install.main(["--installer", "auto"]) == 0
    assert calls[0][-1] == "uv" and "-qq" in calls[0]   # pip's expected "location is ignored" warnings at ERROR level
    assert any(c[-2:] == ["-e", ".[dev]"] and "-c" in c and c[2] == "pip" for c in calls[1:])
    calls.clear()
    assert install.main(["--installer", "uv"]) == 1          # uv asked for explicitly: no silent fallback
    assert all("uv" in c for c in calls)


def test_the_kernelspec_is_written_after_a_successful_install_only(monkeypatch):
    calls = []
    failing = set()

    def fake_run(cmd, dry):
        calls.append(cmd)
        return 1 if cmd[2] in failing else 0

    monkeypatch.setattr(install, "run", fake_run)
    for installer in ("uv", "pip"):
        calls.clear()
        assert install.main(["--installer", installer]) == 0
        assert calls[-1] == [sys.executable, "-c", install.KERNELSPEC]   # last, once, after the install
        assert sum(c[-1] == install.KERNELSPEC for c in calls) == 1
    failing.add("pip")                                                    # pip's install fails: no kernelspec
    calls.clear()
    assert install.main(["--installer", "pip"]) == 1
    assert all(c[-1] != install.KERNELSPEC for c in calls)


def test_install_kernelspec_names_the_provisioner_once(tmp_path):
    kernel_json = tmp_path / "share" / "jupyter" / "kernels" / "python3" / "kernel.json"
    kernel_json.parent.mkdir(parents=True)
    kernel_json.write_text(json.dumps({"argv": ["python", "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                                       "display_name": "Python 3", "language": "python",
                                       "metadata": {"debugger": True}}))
    assert install_kernelspec(str(tmp_path)) == kernel_json
    spec = json.loads(kernel_json.read_text())
    assert spec["metadata"] == {"debugger": True, "kernel_provisioner": {"provisioner_name": PROVISIONER_NAME,
                                                                         "config": {}}}
    written, stamp = kernel_json.read_bytes(), kernel_json.stat().st_mtime_ns
    install_kernelspec(str(tmp_path))                       # again: nothing changes, nothing is rewritten
    assert kernel_json.read_bytes() == written and kernel_json.stat().st_mtime_ns == stamp
    fresh = install_kernelspec(str(tmp_path / "fresh"))     # no kernelspec yet: ipykernel's, then the name
    assert json.loads(fresh.read_text())["metadata"]["kernel_provisioner"]["provisioner_name"] == PROVISIONER_NAME
