"""The installs work as written.

- `snakemake --sdm conda`: every rule's conda environment provides every package its script
  imports, following the imports through camrobust (also those inside functions; a parquet call
  needs pyarrow). The packages an environment provides are its own and, from this venv's
  metadata, what they require; a post-deploy script's `pip install --no-deps` adds its packages.
- A non-editable install: the wheel holds the schema, and `camrobust.config` validates a config
  from the installed package alone.
- The README's install into an environment of your own is the Makefile's.
"""

from __future__ import annotations

import ast
import importlib.metadata as metadata
import os
import re
import shutil
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement

ROOT = Path(__file__).resolve().parents[1]


# ---- which rule runs which script in which environment ------------------------------------------
def rule_environments() -> dict[str, tuple[str, str]]:
    """{rule: (environment file, script)} of every script rule of rules/*.smk."""
    constants = dict(re.findall(r'^(ENV_\w+) = "([^"]+)"', _read("rules/common.smk"), re.M))
    rules: dict[str, dict[str, str]] = {}
    for path in sorted((ROOT / "rules").glob("*.smk")):
        for block in re.split(r"^(?=rule |use rule )", path.read_text(), flags=re.M)[1:]:
            header = block.splitlines()[0]
            if header.startswith("use rule "):
                base, name = re.match(r"use rule (\w+) as (\w+)", header).groups()
                rules[name] = {**rules[base]}
                continue
            name = re.match(r"rule (\w+):", header).group(1)
            fields = dict(re.findall(r"^    (conda|script):\n\s+(\S+)", block, re.M))
            rules[name] = {k: constants.get(v, v.strip('"')) for k, v in fields.items()}
    scripts = {name: f for name, f in rules.items() if "script" in f}
    missing = sorted(name for name, f in scripts.items() if "conda" not in f)
    assert not missing, f"script rules without a conda environment: {missing}"
    return {
        name: (
            os.path.normpath(Path("rules", f["conda"])),
            os.path.normpath(Path("rules", f["script"])),
        )
        for name, f in scripts.items()
    }


def _read(relative: str) -> str:
    return (ROOT / relative).read_text()


# ---- what a script imports ----------------------------------------------------------------------
def _imports(path: Path) -> set[str]:
    """Modules `path` imports anywhere (not under `if TYPE_CHECKING:`), and the names it looks up
    with importlib (`find_spec("imagecorruptions")`); "pyarrow" where it reads or writes parquet."""
    tree = ast.parse(path.read_text())
    skip = {
        id(sub)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for stmt in node.body
        for sub in ast.walk(stmt)
    }
    found = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found |= {node.module, *(f"{node.module}.{a.name}" for a in node.names)}
        elif isinstance(node, ast.Call) and _called(node) in ("find_spec", "import_module"):
            arg = node.args[0] if node.args else None
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                found.add(arg.value)
        elif isinstance(node, ast.Attribute) and node.attr in ("to_parquet", "read_parquet"):
            found.add("pyarrow")
    return found


def _called(node: ast.Call) -> str | None:
    func = node.func
    return func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", None)


def _module_file(name: str) -> Path | None:
    path = ROOT.joinpath(*name.split("."))
    for candidate in (path / "__init__.py", path.with_suffix(".py")):
        if candidate.is_file():
            return candidate
    return None


def third_party_imports(script: Path) -> set[str]:
    """Top-level names of the packages `script` imports, directly or through camrobust."""
    todo, seen, found = [script], set(), set()
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in _imports(path):
            parts = name.split(".")
            if parts[0] == "camrobust":  # the module and every package above it run
                todo += [
                    f for i in range(len(parts)) if (f := _module_file(".".join(parts[: i + 1])))
                ]
            elif parts[0] not in sys.stdlib_module_names and parts[0] != "__future__":
                found.add(parts[0])
    return found


# ---- what an environment provides ---------------------------------------------------------------
def _name(requirement: str) -> str:
    return re.sub(
        r"[-_.]+", "-", re.split(r"[<>=!~\[; ]", requirement.strip(), maxsplit=1)[0]
    ).lower()


@cache
def _requires(dist: str) -> frozenset[str]:
    """What `dist` requires (this venv's metadata; extras left out), recursively."""
    try:
        requirements = metadata.requires(dist) or []
    except metadata.PackageNotFoundError:
        return frozenset()
    direct = set()
    for text in requirements:
        req = Requirement(text)
        if req.marker is None or req.marker.evaluate({"extra": ""}):
            direct.add(_name(req.name))
    return frozenset(direct.union(*(_requires(d) for d in direct)))


def provided(env_file: str) -> set[str]:
    """Distribution names an environment file (and its post-deploy script) installs."""
    spec = yaml.safe_load(_read(env_file))
    listed = set()
    for dep in spec["dependencies"]:
        entries = dep["pip"] if isinstance(dep, dict) else [dep]
        listed |= {_name(e) for e in entries if not e.startswith("-")}
    listed -= {"python", "pip"}
    out = listed.union(*(_requires(d) for d in listed))
    post = ROOT / env_file.replace(".yaml", ".post-deploy.sh")
    if post.is_file():  # `pip install --no-deps NAME==VERSION ...`: exactly those packages
        for line in re.findall(r"pip install --no-deps (.+)", post.read_text()):
            out |= {_name(word) for word in line.split() if not word.startswith("-")}
    return out


@cache
def _installed_modules() -> dict[str, list[str]]:
    return metadata.packages_distributions()


def distributions(module: str) -> set[str]:
    """The distributions that install top-level module `module` (this venv's metadata)."""
    names = _installed_modules().get(module)
    assert names, f"{module} is imported but no installed distribution provides it"
    return {_name(n) for n in names}


RULES = rule_environments()


@pytest.mark.parametrize("rule", sorted(RULES))
def test_each_rules_conda_environment_provides_what_its_script_imports(rule):
    env, script = RULES[rule]
    have = provided(env)
    missing = {
        module: sorted(dists)
        for module in sorted(third_party_imports(ROOT / script))
        if not (dists := distributions(module)) & have
    }
    assert not missing, f"{env} lacks what rule {rule} ({script}) imports: {missing}"


def test_the_import_walk_follows_camrobust_and_lazy_imports():
    """Not vacuous: the CAM job reaches torch through camrobust, the noisy sets OpenCV and the
    frost textures through a function-level import and importlib, metrics pyarrow via parquet."""
    assert {"torch", "torchvision", "numpy"} <= third_party_imports(ROOT / "scripts" / "cam.py")
    noisy = third_party_imports(ROOT / "scripts" / "noisy_set.py")
    assert {"cv2", "imagecorruptions", "PIL"} <= noisy
    assert "pyarrow" in third_party_imports(ROOT / "scripts" / "metrics.py")
    assert {"noisy_set", "cam", "metrics", "stats", "cam_clean"} <= set(RULES)


def test_the_post_deploy_pins_are_the_no_deps_requirements():
    pins = dict(re.findall(r"^([\w-]+)==(\S+)", _read("requirements/no-deps.txt"), re.M))
    script = _read("envs/torch.post-deploy.sh")
    deployed = dict(re.findall(r"([\w-]+)==(\S+)", script.split("pip install --no-deps", 1)[1]))
    assert deployed and all(pins[name] == version for name, version in deployed.items())


# ---- the wheel ----------------------------------------------------------------------------------
def test_the_wheel_holds_the_schema_and_validates_a_config(tmp_path):
    source = tmp_path / "src"
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(ROOT / name, source / name)
    shutil.copytree(ROOT / "camrobust", source / "camrobust", symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__"))  # fmt: skip
    (source / "config").mkdir()
    shutil.copy(ROOT / "config" / "schema.yaml", source / "config" / "schema.yaml")
    pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
    build = [*pip, "wheel", "--no-deps", "--no-build-isolation", "-w", str(tmp_path), str(source)]
    subprocess.run(build, check=True, cwd=tmp_path, capture_output=True, timeout=300)
    wheel = next(tmp_path.glob("camrobust-*.whl"))
    site = tmp_path / "site"
    install = [*pip, "install", "--no-deps", "--target", str(site), str(wheel)]
    subprocess.run(install, check=True, cwd=tmp_path, capture_output=True, timeout=300)
    check = (
        "import camrobust, camrobust.config as c\n"
        "print(camrobust.__file__)\n"
        "print(c.SCHEMA)\n"
        "cfg = c.validate_config({'datasets': {'d': {'source': 'shapes'}}})\n"
        "print(cfg['cam']['batch_size'], cfg['datasets']['d']['n_eval'])\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", check],
        cwd=tmp_path,  # not the checkout: the installed package alone
        env={"PYTHONPATH": str(site), "PATH": ""},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    module, schema, defaults = run.stdout.splitlines()
    assert Path(module).is_relative_to(site) and Path(schema).is_relative_to(site), run.stdout
    assert defaults == "64 100"  # cam.batch_size and n_eval: the schema's defaults


# ---- the README's install -----------------------------------------------------------------------
def test_the_readmes_own_environment_install_is_the_makefiles():
    readme = _read("README.md")
    section = readme.split("## Managing your own environment", 1)[1].split("\n## ", 1)[0]
    assert "make install VENV=" in section
    recipe = _read("Makefile").split("\n$(STAMP):", 1)[1].split("\n\n", 1)[0]
    for command in ("pip install --quiet -e '.[test]'", "--no-deps -r requirements/no-deps.txt"):
        assert command in recipe, command
        assert command.replace("--quiet ", "") in section, f"README does not show {command}"
