"""nox sessions: tests (the README's test command), lint, perf (benchmarks)."""

import nox

nox.options.sessions = ["lint", "tests"]
# torch first: the CPU build lying on this machine's disk, not a multi-GB CUDA build.
INSTALL = ["torch==2.13.0", "-e", ".[recbole,test]"]


@nox.session
def tests(session: nox.Session) -> None:
    session.install(*INSTALL)
    session.run("pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    session.install("ruff")
    session.run("ruff", "check", "recsys_cli", "tests", "benchmarks", "noxfile.py")


@nox.session
def perf(session: nox.Session) -> None:
    """Benchmarks against peers measured in the same run; writes results/perf.md."""
    session.install("torch==2.13.0", "-e", ".[recbole,dev]")
    session.run("python", "benchmarks/summary.py", *session.posargs)
