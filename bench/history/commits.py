"""A range of commits, as `history backfill` and `history find` walk it: A..B, oldest first.

A..B means what it means to git (`git rev-list --first-parent A..B`: the commits after A up to B,
along the first-parent line, as `asv run A..B` walks it): a merged branch's own commits are not
measured one by one, its merge is. Every commit carries what the store records of it: its date,
its parents, and its generation (the number of its ancestors), which orders commits by ancestry
without the repository at hand (a descendant always has more ancestors than any ancestor has).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.compare.interleave_workers import git, repo_root
from linreg.errors import LinregError

FIELD_SEP = "\x1f"  # between a commit's fields in `git log` output: never in a hash, a date or a subject


@dataclass(frozen=True)
class Commit:
    sha: str
    date: str                    # committer date, ISO 8601 strict
    parents: tuple[str, ...]
    subject: str
    generation: int              # ancestors, itself included: orders commits by ancestry

    @property
    def short(self) -> str:
        return self.sha[:10]

    def record(self) -> dict[str, object]:
        """What a stored run says of its commit (the `backfill` block of its document)."""
        return {"commit": self.sha, "commit_date": self.date, "parents": list(self.parents),
                "subject": self.subject, "generation": self.generation}


def repository(repo: Path | None) -> Path:
    """The repository to walk: --repo, else the checkout holding this bench package."""
    if repo is None:
        return repo_root()
    try:
        return Path(git(repo, "rev-parse", "--show-toplevel"))
    except LinregError:
        raise LinregError(f"--repo {repo}: not a git repository") from None


def _resolve(repo: Path, rev: str, spec: str) -> str:
    if not rev or rev.startswith("-"):
        raise LinregError(f"--commits {spec!r}: {rev!r} is not a revision (expected A..B)")
    try:
        return git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    except LinregError:
        raise LinregError(f"--commits {spec!r}: {rev!r} is not a commit of {repo}") from None


def commit_info(repo: Path, sha: str) -> Commit:
    out = git(repo, "log", "-1", f"--format=%H{FIELD_SEP}%cI{FIELD_SEP}%P{FIELD_SEP}%s", sha)
    full, date, parents, subject = (out.split(FIELD_SEP) + ["", "", "", ""])[:4]
    generation = int(git(repo, "rev-list", "--count", full))
    return Commit(full, date, tuple(parents.split()), subject.strip(), generation)


def commit_range(repo: Path, spec: str) -> tuple[Commit, list[str]]:
    """(A, the hashes of A..B oldest first); a LinregError names what is wrong with `spec`."""
    if spec.count("..") != 1 or "..." in spec:
        raise LinregError(f"--commits {spec!r}: expected A..B (two revisions joined by '..')")
    base_rev, head_rev = spec.split("..")
    base = _resolve(repo, base_rev, spec)
    head = _resolve(repo, head_rev, spec)
    listed = git(repo, "rev-list", "--first-parent", "--reverse", f"{base}..{head}").split()
    if not listed:
        raise LinregError(f"--commits {spec!r}: no commit in the range ({head_rev} is not after "
                          f"{base_rev} on its first-parent line)")
    if git(repo, "rev-list", "--first-parent", head).split().count(base) == 0:
        raise LinregError(f"--commits {spec!r}: {base_rev} is not on {head_rev}'s first-parent "
                          "line (bisecting needs one line of history)")
    return commit_info(repo, base), listed


def sample(commits: list[str], every: int | None = None, most: int | None = None) -> list[str]:
    """Every K-th commit counted back from the newest, or at most N spread evenly; the newest is
    always in (asv's `--steps`): a sampled backfill still ends at B."""
    if every is not None and every < 1:
        raise LinregError(f"--every must be >= 1, got {every}")
    if most is not None and most < 1:
        raise LinregError(f"--max must be >= 1, got {most}")
    if every is not None:
        return commits[::-1][::every][::-1]
    if most is not None and len(commits) > most:
        if most == 1:
            return commits[-1:]
        last = len(commits) - 1
        picks = sorted({round(i * last / (most - 1)) for i in range(most)})
        return [commits[i] for i in picks]
    return list(commits)


def has_file(repo: Path, sha: str, path: str) -> bool:
    """Whether commit `sha` holds `path` (no checkout needed)."""
    try:
        git(repo, "cat-file", "-e", f"{sha}:{path}")
    except LinregError:
        return False
    return True
