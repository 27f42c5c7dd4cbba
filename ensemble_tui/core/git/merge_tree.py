"""Conflict prediction with `git merge-tree --write-tree`, which writes objects but no files."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import git

from ensemble_tui.core.git.commands import run_git_raw

# merge-ort's conflict types, said in words a user reviewing a merge understands.
_REASON_BY_CONFLICT_TYPE: Mapping[str, str] = {
    "CONFLICT (content)": "both sides changed the same lines",
    "CONFLICT (contents)": "both sides changed the same lines",
    "CONFLICT (add/add)": "both sides added this file with different content",
    "CONFLICT (modify/delete)": "one side deleted this file, the other changed it",
    "CONFLICT (rename/delete)": "one side renamed this file, the other deleted it",
    "CONFLICT (rename/rename)": "both sides renamed this file differently",
    "CONFLICT (file/directory)": "a file on one side is a directory on the other",
    "CONFLICT (distinct modes)": "both sides gave this path different file types",
    "CONFLICT (binary)": "both sides changed this binary file",
    "CONFLICT (submodule)": "both sides changed this submodule",
}


@dataclass(frozen=True, slots=True)
class MergedTree:
    """The tree `git merge-tree` wrote, and each conflicted path with the reason."""

    tree: str
    conflicts: dict[str, str]


def merge_trees(
    repo: git.Repo, ours: str, theirs: str, *, ours_label: str, theirs_label: str
) -> MergedTree:
    """Merge two commits (full shas) in the object store only; report every conflicted path.

    The labels replace the shas in git's messages, so a reason reads "added in HEAD".
    Uses `-z --name-only` output: the tree, NUL; conflicted paths, NUL each; a NUL; then
    messages as `<count> NUL <paths...> NUL <type> NUL <text> NUL`.
    """
    status, raw = run_git_raw(
        repo, "merge-tree", "--write-tree", "-z", "--name-only", ours, theirs, ok_codes=(0, 1)
    )
    fields = raw.decode(errors="surrogateescape").split("\0")
    if status == 0:
        return MergedTree(tree=fields[0], conflicts={})
    position = 1
    conflicted: list[str] = []
    while fields[position]:
        conflicted.append(fields[position])
        position += 1
    labels = {ours: ours_label, theirs: theirs_label}
    reasons = _conflict_reasons(fields[position + 1 :], labels)
    conflicts: dict[str, str] = {}
    for path in conflicted:
        reason = reasons.get(path, "conflicting changes")
        # A file moved aside for a directory gets a `~<sha>` suffix; name the user's path.
        for sha in labels:
            path = path.removesuffix(f"~{sha}")
        conflicts.setdefault(path, reason)
    return MergedTree(tree=fields[0], conflicts=conflicts)


def _conflict_reasons(fields: list[str], labels: Mapping[str, str]) -> dict[str, str]:
    """The first CONFLICT message that names each path, skipping "Auto-merging" notes."""
    reasons: dict[str, str] = {}
    position = 0
    while position < len(fields) and fields[position].isdigit():
        count = int(fields[position])
        paths = fields[position + 1 : position + 1 + count]
        kind, text = fields[position + 1 + count], fields[position + 2 + count]
        position += count + 3
        if not kind.startswith("CONFLICT"):
            continue
        # The type is coarse ("contents" covers add/add); the message's prefix is precise.
        prefix = text.partition(":")[0].strip()
        reason = _REASON_BY_CONFLICT_TYPE.get(prefix) or _REASON_BY_CONFLICT_TYPE.get(kind)
        if reason is None:
            reason = text.strip()
            for sha, label in labels.items():
                reason = reason.replace(sha, label)
        for path in paths:
            reasons.setdefault(path, reason)
    return reasons
