"""A corpus of bad inputs: recipes, command-line arguments, data files, damaged run directories,
dataset folders, a full or read-only disk, SIGTERM and kill -9.

Every refusal must be: exit code 2, at most two lines on stderr, no traceback, and nothing new
or changed outside the results and data dirs (each case runs in its own working directory,
snapshot before and after). Most cases run in-process; the disk, signal and file-size cases run
`python -m recsys_cli` in a subprocess, the tmpfs ones inside an unprivileged user and mount
namespace (`unshare -rm`; skipped where the kernel refuses it)."""

from __future__ import annotations

import errno
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import polars as pl
import pytest
from typer.testing import CliRunner

from recsys_cli.cli.main import app
from recsys_cli.results.owners import OWNER_FILE

runner = CliRunner()

RECIPE = """
name = "bad-inputs"
seed = 3
[dataset]
name = "plays"
path = "plays.csv"
columns = { user = "uid", item = "track", timestamp = "ts", weight = "plays" }
[split]
kind = "temporal"
test = 0.2
[[models]]
name = "popularity"
[eval]
cutoffs = [5, 10]
candidates = 10
"""
# A run that lasts until it is killed (implicit ALS with endless iterations on the tiny file).
ENDLESS = RECIPE.replace(
    '[[models]]\nname = "popularity"',
    '[[models]]\nname = "implicit_als"\nparams = { factors = 4, iterations = 10000000 }',
)


def rank(*args, env: dict | None = None):
    return runner.invoke(app, [str(a) for a in args], env=env)


def snapshot(folder: Path, skip: tuple[Path, ...]) -> dict[str, tuple[int, int]]:
    """Every path under `folder` but those under `skip`, with size and modification time."""
    found = {}
    for root, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if Path(root) / d not in skip]
        for name in dirs + files:
            path = Path(root) / name
            if path in skip:
                continue
            stat = path.lstat()
            found[str(path.relative_to(folder))] = (stat.st_size, stat.st_mtime_ns)
    return found


def assert_refused(exit_code: int, stderr: str, output: str) -> str:
    """Exit code 2, one or two lines on stderr starting with `error:`, no traceback."""
    assert exit_code == 2, (exit_code, output)
    lines = stderr.strip().splitlines()
    assert 1 <= len(lines) <= 2 and lines[0].startswith("error:"), stderr
    assert "Traceback" not in output and "Traceback" not in stderr
    return stderr.strip()


def plays() -> pl.DataFrame:
    """60 users with 10 plays each of 40 tracks (three taste clusters), distinct times."""
    rng = np.random.default_rng(0)
    users = np.repeat(np.arange(60), 10)
    tracks = users % 3 + 3 * rng.integers(0, 13, users.size)
    return pl.DataFrame(
        {
            "uid": [f"u{u}" for u in users],
            "track": [f"i{t}" for t in tracks],
            "ts": 1_000_000 + 60 * rng.permutation(users.size),
            "plays": rng.integers(1, 6, users.size).astype(float),
        }
    )


@pytest.fixture(scope="module")
def base_run(tmp_path_factory) -> Path:
    """One evaluated run to damage (copied per case)."""
    folder = tmp_path_factory.mktemp("base")
    plays().write_csv(folder / "plays.csv")
    (folder / "r.toml").write_text(RECIPE)
    result = rank("run", folder / "r.toml", "--results-dir", folder / "results", "-q")
    assert result.exit_code == 0, result.output
    [run] = (folder / "results").iterdir()
    return run


class Workspace:
    """tmp/cwd (the working directory, holding the recipe and plays.csv), tmp/results, tmp/data
    and tmp/runs (copies of the base run to damage)."""

    def __init__(self, root: Path, base_run: Path):
        self.root, self.base_run = root, base_run
        self.cwd, self.results, self.data = root / "cwd", root / "results", root / "data"
        self.cwd.mkdir()
        self.recipe = self.write("recipe.toml", RECIPE)
        plays().write_csv(self.cwd / "plays.csv")

    def write(self, name: str, content: str | bytes) -> Path:
        path = self.cwd / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())
        return path

    def frame(self, name: str, frame: pl.DataFrame) -> Path:
        path = self.cwd / name
        frame.write_parquet(path) if name.endswith(".parquet") else frame.write_csv(path)
        return path

    def run(self, damage=None, name: str = "run") -> Path:
        """A copy of the base run (outside the results dir), damaged by `damage(path)`."""
        run = self.root / "runs" / name
        shutil.copytree(self.base_run, run)
        if damage is not None:
            damage(run)
        return run

    def sub(self, *args) -> list:
        """`rank run` of the recipe with --set overrides."""
        sets = [part for arg in args for part in ("--set", arg)]
        return ["run", self.recipe, *sets, "--results-dir", self.results, "-q"]


@pytest.fixture
def w(tmp_path, base_run, monkeypatch) -> Workspace:
    workspace = Workspace(tmp_path, base_run)
    monkeypatch.chdir(workspace.cwd)
    monkeypatch.setenv("RANK_DATA_DIR", str(workspace.data))
    monkeypatch.delenv("RANK_RESULTS_DIR", raising=False)
    return workspace


def truncate(name: str, keep: int):
    def damage(run: Path) -> None:
        data = (run / name).read_bytes()
        (run / name).write_bytes(data[:keep])

    return damage


def rewrite(name: str, content: str | bytes):
    def damage(run: Path) -> None:
        path = run / name
        path.write_bytes(content if isinstance(content, bytes) else content.encode())

    return damage


def edit_manifest(change):
    def damage(run: Path) -> None:
        manifest = json.loads((run / "manifest.json").read_text())
        change(manifest)
        (run / "manifest.json").write_text(json.dumps(manifest))

    return damage


def corrupt_middle(name: str):
    def damage(run: Path) -> None:
        data = bytearray((run / name).read_bytes())
        data[200:264] = b"\x13" * 64  # inside the data pages: the footer still reads
        (run / name).write_bytes(bytes(data))

    return damage


def drop_column(name: str, column: str):
    def damage(run: Path) -> None:
        pl.read_parquet(run / name).drop(column).write_parquet(run / name)

    return damage


def remove(name: str):
    return lambda run: (run / name).unlink()


def models_removed(run: Path) -> None:
    lines = (run / "recipe.toml").read_text().splitlines(keepends=True)
    start = next(i for i, line in enumerate(lines) if line.startswith("models = ["))
    end = next(i for i in range(start, len(lines)) if lines[i].startswith("]"))
    (run / "recipe.toml").write_text("".join(lines[:start] + lines[end + 1 :]))


def with_ids(column: str, values: list) -> pl.DataFrame:
    frame = plays().head(len(values))
    return frame.with_columns(pl.Series(column, values))


def imported_garbage(w: Workspace) -> list:
    folder = w.cwd / "garbage"
    folder.mkdir()
    (folder / "u.data").write_text("not,the,movielens,file\n1\n")
    (folder / "u.item").write_bytes(b"\xff\xfe\x00garbage")
    imported = rank("datasets", "import", "ml-100k", folder, "--data-dir", w.data)
    assert imported.exit_code == 0, imported.output
    return ["datasets", "prepare", "ml-100k", "--no-download", "--data-dir", w.data]


def latin1(w):
    return ["run", w.write("latin.toml", 'name = "caf\xe9"\n'.encode("latin-1"))]


CASES = {
    # recipes ------------------------------------------------------------------------------
    "recipe is a folder": lambda w: ["run", w.cwd],
    "recipe missing": lambda w: ["run", w.cwd / "absent.toml"],
    "recipe Latin-1": latin1,
    "recipe UTF-16 with BOM": lambda w: ["run", w.write("u16.toml", RECIPE.encode("utf-16"))],
    "recipe invalid TOML": lambda w: ["run", w.write("bad.toml", "name = \n")],
    "recipe empty": lambda w: ["run", w.write("empty.toml", "")],
    "recipe NUL bytes": lambda w: ["run", w.write("nul.toml", b"name = 'x'\x00\n")],
    "recipe repeated cutoffs": lambda w: w.sub("eval.cutoffs=[10,10]"),
    "recipe seed above 2**32-1": lambda w: w.sub(f"seed={2**32}"),
    "recipe negative seed": lambda w: w.sub("seed=-1"),
    "recipe bad key path": lambda w: w.sub("models[9].name=ease"),
    "recipe unknown model": lambda w: w.sub("models[0].name=eas"),
    "recipe label a path": lambda w: w.sub("models[0].label='../x'"),
    # command-line arguments -----------------------------------------------------------------
    "missing argument": lambda w: ["run"],
    "unknown option": lambda w: ["run", w.recipe, "--bogus"],
    "unknown command": lambda w: ["runn"],
    "float option not a number": lambda w: ["compare", w.run(), "--alpha", "abc"],
    "int option not a number": lambda w: ["datasets", "synth", "x", "--users", "many"],
    "option without its value": lambda w: ["compare", w.run(), "--format"],
    "alpha out of range": lambda w: ["compare", w.run(), "--alpha", "5"],
    "negative bootstrap seed": lambda w: ["compare", w.run(), "--seed", "-1"],
    "unknown format": lambda w: ["compare", w.run(), "--format", "pdf"],
    "repeated --cutoffs": lambda w: ["eval", w.run(), "--cutoffs", "10,10"],
    "repeated --metrics": lambda w: ["eval", w.run(), "--metrics", "ndcg,ndcg"],
    "zero cutoff": lambda w: ["eval", w.run(), "--cutoffs", "0"],
    "cutoffs not numbers": lambda w: ["eval", w.run(), "--cutoffs", "ten"],
    "empty cutoffs": lambda w: ["eval", w.run(), "--cutoffs", ","],
    "cutoff deeper than the lists": lambda w: ["eval", w.run(), "--cutoffs", str(10**12)],
    "empty grid list": lambda w: ["sweep", w.recipe, "--grid", "k=,"],
    "grid count 10**12": lambda w: ["sweep", w.recipe, "--grid", f"k=0:1:{10**12}"],
    "grid product too large": lambda w: [
        "sweep", w.recipe, "--grid", "a=0:1:200", "--grid", "b=0:1:200"
    ],
    "grid not finite": lambda w: ["sweep", w.recipe, "--grid", "k=0:inf:3"],
    "grid repeated value": lambda w: ["sweep", w.recipe, "--grid", "k=1,1"],
    "grid key twice": lambda w: ["sweep", w.recipe, "--grid", "k=1", "--grid", "k=2"],
    "a local cluster of 10**5 workers": lambda w: [
        "run", w.recipe, "--workers", 10**5, "--results-dir", w.results
    ],
    "results dir is a file": lambda w: ["run", w.recipe, "--results-dir", w.cwd / "plays.csv"],
    "data dir is a file": lambda w: ["datasets", "list", "--data-dir", w.cwd / "plays.csv"],
    "mirror not a URL": lambda w: ["datasets", "download", "ml-1m", "--no-progress"],
    # local data files -----------------------------------------------------------------------
    "negative weights": lambda w: w.sub(
        f"dataset.path='{w.frame('w.csv', with_ids('plays', [-1.0, 2.0]))}'"
    ),
    "NaN weights": lambda w: w.sub(
        f"dataset.path='{w.frame('w.parquet', with_ids('plays', [float('nan'), 2.0]))}'"
    ),
    "infinite weights": lambda w: w.sub(
        f"dataset.path='{w.frame('w.parquet', with_ids('plays', [float('inf'), 2.0]))}'"
    ),
    "missing weights": lambda w: w.sub(
        f"dataset.path='{w.frame('w.csv', with_ids('plays', [None, 2.0]))}'"
    ),
    "text weights": lambda w: w.sub(
        f"dataset.path='{w.frame('w.csv', with_ids('plays', ['lots', 'few']))}'"
    ),
    "list ids": lambda w: w.sub(
        f"dataset.path='{w.frame('l.parquet', with_ids('uid', [['a'], ['b']]))}'"
    ),
    "fractional ids": lambda w: w.sub(
        f"dataset.path='{w.frame('f.parquet', with_ids('uid', [1.5, 2.0]))}'"
    ),
    "no row with both ids": lambda w: w.sub(
        f"dataset.path='{w.frame('n.csv', with_ids('uid', [None, None]))}'"
    ),
    "time beyond int64": lambda w: w.sub(
        "dataset.path='{}'".format(
            w.write("t.csv", "uid,track,ts,plays\na,x,99999999999999999999999,1\n")
        )
    ),
    "time neither seconds nor a date": lambda w: w.sub(
        "dataset.path='{}'".format(w.write("t.csv", "uid,track,ts,plays\na,x,yesterday,1\n"))
    ),
    "separator of two characters": lambda w: w.sub("dataset.separator=';;'"),
    "empty separator": lambda w: w.sub("dataset.separator=''"),
    "data file is a folder": lambda w: w.sub(f"dataset.path='{w.cwd}'"),
    "data file missing": lambda w: w.sub("dataset.path='absent.csv'"),
    "garbage Parquet": lambda w: w.sub(f"dataset.path='{w.write('g.parquet', b'PAR1junk')}'"),
    "column missing": lambda w: w.sub("dataset.columns.user='who'"),
    "items file repeats an item": lambda w: w.sub(
        "dataset.items_path='{}'".format(w.write("items.csv", "track,genre\ni1,a\ni1,b\n"))
    ),
    # damaged run directories ----------------------------------------------------------------
    "empty test.parquet": lambda w: ["eval", w.run(rewrite("test.parquet", b""))],
    "truncated recommendations": lambda w: [
        "eval", w.run(truncate("recommendations.parquet", 100))
    ],
    "recommendations damaged inside": lambda w: [
        "eval", w.run(corrupt_middle("recommendations.parquet"))
    ],
    "test.parquet lacks a column": lambda w: [
        "eval", w.run(drop_column("test.parquet", "status"))
    ],
    "test.parquet missing": lambda w: ["eval", w.run(remove("test.parquet"))],
    "truncated manifest": lambda w: ["eval", w.run(truncate("manifest.json", 20))],
    "manifest not an object": lambda w: ["eval", w.run(rewrite("manifest.json", "[1, 2]"))],
    "manifest empty object": lambda w: ["eval", w.run(rewrite("manifest.json", "{}"))],
    "manifest lists not a list": lambda w: [
        "eval", w.run(edit_manifest(lambda m: m.update(lists="EASE")))
    ],
    "manifest depth a string": lambda w: [
        "eval", w.run(edit_manifest(lambda m: m.update(list_depth="10")))
    ],
    "manifest counts incomplete": lambda w: [
        "eval", w.run(edit_manifest(lambda m: m["counts"].pop("users")))
    ],
    "manifest not UTF-8": lambda w: ["eval", w.run(rewrite("manifest.json", b"{\xff}"))],
    "recipe.toml unparsable": lambda w: ["eval", w.run(rewrite("recipe.toml", "eval = ["))],
    "recipe.toml without models": lambda w: ["eval", w.run(models_removed)],
    "recipe.toml not UTF-8": lambda w: ["eval", w.run(rewrite("recipe.toml", b"name='\xe9'"))],
    "an unfinished run": lambda w: ["eval", w.run(name=".tmp-20250101T000000Z-x-000000")],
    "not a run at all": lambda w: ["eval", w.cwd],
    "compare: per_user truncated": lambda w: [
        "compare", w.run(truncate("per_user.parquet", 50))
    ],
    "compare: not evaluated": lambda w: [
        "compare", w.run(lambda run: [remove(n)(run) for n in ("per_user.parquet", "metrics.json")])
    ],
    "compare: manifest truncated": lambda w: ["compare", w.run(truncate("manifest.json", 5))],
    # dataset folders and archives -----------------------------------------------------------
    "prepare an imported garbage folder": imported_garbage,
    "import a file that is not the archive": lambda w: [
        "datasets", "import", "ml-100k", w.write("ml-100k.zip", b"PK\x03\x04 not a zip"),
        "--data-dir", w.data,
    ],
    "import a folder that is missing": lambda w: [
        "datasets", "import", "ml-100k", w.cwd / "nowhere", "--data-dir", w.data
    ],
}  # fmt: skip
ENV = {"mirror not a URL": {"RANK_DATASETS_MIRROR": "mirror.example/base"}}


@pytest.mark.parametrize("case", sorted(CASES))
def test_bad_input_is_refused_in_one_line(w, case):
    args = CASES[case](w)
    # `rank eval` logs its attempt in the run's run.log once the run opened; nothing else moves
    skip = (w.results, w.data, w.root / "runs" / "run" / "run.log")
    before = snapshot(w.root, skip)
    result = rank(*args, env=ENV.get(case))
    assert_refused(result.exit_code, result.stderr, result.output)
    assert isinstance(result.exception, SystemExit)
    assert snapshot(w.root, skip) == before
    # a refused run leaves no run folder, finished or not
    assert not w.results.exists() or not any(w.results.iterdir())


def test_messages_are_shown_verbatim(w):
    """Rich markup and emoji codes in user input are not interpreted: `[tail]` and `:smile:`
    stay as typed."""
    result = rank(*w.sub("dataset.path='a:b:c :smile: [tail] [red]x[/red]'"))
    message = assert_refused(result.exit_code, result.stderr, result.output)
    assert "a:b:c :smile: [tail] [red]x[/red]: file not found" in message


def test_usage_errors_are_one_line_naming_the_option(w):
    result = rank("compare", w.run(), "--alpha", "abc")
    message = assert_refused(result.exit_code, result.stderr, result.output)
    assert message.startswith("error: rank compare: Invalid value for '--alpha':")
    assert "number" in message and message.endswith("(see rank compare --help)")
    result = rank("run")
    assert result.stderr.strip() == (
        "error: rank run: Missing argument 'RECIPE'. (see rank run --help)"
    )


def test_rows_without_ids_are_counted_in_the_report(w):
    frame = plays().with_columns(
        pl.when(pl.int_range(pl.len()) < 3).then(None).otherwise(pl.col("uid")).alias("uid")
    )
    result = rank(*w.sub(f"dataset.path='{w.frame('ids.csv', frame)}'")[:-1], "--json")
    assert result.exit_code == 0, result.output
    [run] = w.results.iterdir()
    counts = json.loads((run / "manifest.json").read_text())["counts"]
    assert counts["source_rows_without_user_id"] == 3
    assert counts["dataset_interactions"] == plays().height - 3


def test_relative_data_paths_are_read_from_the_recipe_folder(w, tmp_path, monkeypatch):
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    result = rank("run", w.recipe, "--results-dir", w.results, "-q")
    assert result.exit_code == 0, result.output
    [run] = w.results.iterdir()
    assert f'path = "{w.cwd / "plays.csv"}"' in (run / "recipe.toml").read_text()


# a full or read-only disk ---------------------------------------------------------------------


def _fail_parquet_writes(monkeypatch, code: int) -> None:
    """Every Parquet write fails with `code` as polars reports a kernel refusal ("... (os error
    N)" from its Rust writer): the folders, the owner record and run.log are written first, so
    each command fails in the middle of its work, with files to remove."""

    def refuse(*args, **kwargs):
        raise pl.exceptions.ComputeError(f"parquet: {os.strerror(code)} (os error {code})")

    monkeypatch.setattr(pl.DataFrame, "write_parquet", refuse)
    monkeypatch.setattr(pl.LazyFrame, "sink_parquet", refuse)


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EROFS, errno.EACCES])
@pytest.mark.parametrize("command", ["run", "eval", "sweep", "synth"])
def test_refused_writes_are_one_line_and_leave_nothing(w, monkeypatch, command, code):
    """Simulated in-process (root ignores permissions; see the tmpfs tests for a real one)."""
    run = w.run(lambda r: [(r / n).unlink() for n in ("per_user.parquet", "metrics.json")])
    args = {
        "run": ["run", w.recipe, "--results-dir", w.results, "-q"],
        "eval": ["eval", run, "-q"],
        "sweep": ["sweep", w.recipe, "--grid", "groups.g.popularity_below=0.5", "-q",
                  "--results-dir", w.results],
        "synth": ["datasets", "synth", "s", "--users", 20, "--items", 10, "--interactions", 50,
                  "--data-dir", w.data],
    }[command]  # fmt: skip
    before = snapshot(w.root, skip=(w.results, w.data, run / "run.log"))
    _fail_parquet_writes(monkeypatch, code)
    result = rank(*args)
    message = assert_refused(result.exit_code, result.stderr, result.output)
    expected = {errno.ENOSPC: "no space left", errno.EROFS: "read-only", errno.EACCES: "denied"}
    assert expected[code] in message
    assert snapshot(w.root, skip=(w.results, w.data, run / "run.log")) == before
    for folder in (w.results, w.data):
        leftovers = [p for p in folder.rglob("*") if p.is_file()] if folder.exists() else []
        assert leftovers == [], leftovers


def _cli(*args, cwd: Path, preexec=None) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.run(
        [sys.executable, "-m", "recsys_cli", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=preexec,
    )


def test_a_file_size_limit_is_one_line_and_leaves_no_run(w):
    """A real kernel refusal without privileges: RLIMIT_FSIZE (ulimit -f) of 1 KiB makes the
    first larger write fail with EFBIG (Python ignores SIGXFSZ)."""

    def limit():
        resource.setrlimit(resource.RLIMIT_FSIZE, (1024, 1024))

    done = _cli("run", w.recipe, "--results-dir", w.results, "-q", cwd=w.cwd, preexec=limit)
    message = assert_refused(done.returncode, done.stderr, done.stdout + done.stderr)
    assert "file-size limit" in message and str(w.results) in message
    assert list(w.results.iterdir()) == []


UNSHARE = shutil.which("unshare")


def _in_namespace(script: str, cwd: Path) -> subprocess.CompletedProcess:
    """Run `script` (sh) as root of a new user and mount namespace, where tmpfs can be mounted
    without privileges; skip the test where the kernel or the sandbox does not allow it."""
    probe = subprocess.run(
        [UNSHARE, "-rm", "sh", "-c", f"mount -t tmpfs -o size=64k tmpfs {cwd}"],
        capture_output=True,
    ) if UNSHARE else None  # fmt: skip
    if probe is None or probe.returncode != 0:
        pytest.skip("no unprivileged user+mount namespaces here (unshare -rm)")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    return subprocess.run(
        [UNSHARE, "-rm", "sh", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.mark.parametrize("command", ["run", "eval"])
def test_a_full_tmpfs_is_one_line_and_leaves_nothing(w, command):
    """A real full disk: a 256 KiB tmpfs, filled before the command up to its last 8 KiB (to
    its last byte for `eval`, whose files are smaller). A new run folder and a save into an
    existing run are the two ways results are written; sweep and synth are simulated above."""
    disk = w.root / "disk"
    disk.mkdir()
    args = {
        "run": f"run {w.recipe} --results-dir {disk}/results -q",
        "eval": f"eval {disk}/run -q",
    }[command]
    margin = 0 if command == "eval" else 8
    copy = f"cp -r {w.base_run} {disk}/run && rm {disk}/run/per_user.parquet " + (
        f"{disk}/run/metrics.json && "
    )
    script = (
        f"mount -t tmpfs -o size=256k tmpfs {disk} && "
        + (copy if command == "eval" else "")
        + f"free=$(df -k {disk} | tail -1 | awk '{{print $4}}') && "
        f"dd if=/dev/zero of={disk}/filler bs=1k count=$((free - {margin})) 2>/dev/null; "
        f"{sys.executable} -m recsys_cli {args}; code=$?; "
        f"find {disk} -newer {disk}/filler -type f > {w.root}/left.txt; exit $code"
    )
    done = _in_namespace(script, w.cwd)
    message = assert_refused(done.returncode, done.stderr, done.stdout + done.stderr)
    assert "no space left on the device" in message and str(disk) in message
    left = (w.root / "left.txt").read_text().split()
    assert [p for p in left if not p.endswith("run.log")] == []  # eval's log line may stay


def test_a_read_only_tmpfs_is_one_line(w):
    disk = w.root / "disk"
    disk.mkdir()
    script = (
        f"mount -t tmpfs -o ro,size=64k tmpfs {disk} && "
        f"{sys.executable} -m recsys_cli run {w.recipe} --results-dir {disk}/results -q"
    )
    done = _in_namespace(script, w.cwd)
    message = assert_refused(done.returncode, done.stderr, done.stdout + done.stderr)
    assert "read-only" in message and str(disk) in message


# SIGTERM and kill -9 --------------------------------------------------------------------------


def _start_endless(w: Workspace) -> tuple[subprocess.Popen, Path]:
    """`rank run` of a recipe that only ends when killed; returns once its `.tmp-` folder is
    there."""
    recipe = w.write("endless.toml", ENDLESS)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}
    process = subprocess.Popen(
        [sys.executable, "-m", "recsys_cli", "run", recipe, "--results-dir", w.results, "-q"],
        cwd=w.cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        pending = list(w.results.glob(".tmp-*")) if w.results.exists() else []
        if pending and (pending[0] / OWNER_FILE).exists():
            return process, pending[0]
        time.sleep(0.05)
    process.kill()
    raise AssertionError(f"the run never started: {process.communicate()}")


def test_sigterm_cleans_up_like_ctrl_c(w):
    process, pending = _start_endless(w)
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 143, (out, err)
    assert err.strip() == "interrupted (SIGTERM): nothing was left looking complete"
    assert not pending.exists() and list(w.results.iterdir()) == []


def test_the_next_run_removes_the_folder_of_a_killed_run(w):
    process, pending = _start_endless(w)
    process.kill()
    process.communicate(timeout=60)
    assert pending.exists()  # SIGKILL cannot be caught
    result = rank("run", w.recipe, "--results-dir", w.results, "-q")
    assert result.exit_code == 0, result.output
    assert not pending.exists()
    assert [p.name.startswith(".tmp-") for p in w.results.iterdir()] == [False]
