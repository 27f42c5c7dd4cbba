"""The demo's team story: three teammates extend a small real Python project.

The project is `textstats`, a word counter. The lead plans three dependent tasks:
ada adds a sentence counter (t1); ben adds a readability score built on it (t2, after
t1); cy writes the tests and the README section (t3, after t1 and t2), and first
asks to read the team's style guide, outside its worktree: the viewer approves that
permission with `a`. The lead cleans up when all three have reported, and every
branch is merged into the working directory as unstaged changes.

`pace` slows the scripted model so a person can follow (0 for tests).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ensemble_tui.demo.scenarios import GIT_COMMIT, tool
from ensemble_tui.demo.script import script_block

TEAM = "textstats"

PROJECT_FILES = {
    # As any Python project has: the closing steps run the team's tests in the tree, and
    # Python's bytecode would otherwise be left there as untracked files.
    ".gitignore": "__pycache__/\n.pytest_cache/\n",
    "README.md": "# textstats\n\nSmall text statistics.\n\n```python\n"
    "from textstats.words import count_words\ncount_words('two words')  # 2\n```\n",
    "textstats/__init__.py": '"""Small text statistics."""\n',
    "textstats/words.py": '"""Counting words."""\n\n\ndef count_words(text: str) -> int:\n'
    '    """The number of whitespace-separated words in *text*."""\n'
    "    return len(text.split())\n",
}
STYLE_GUIDE = "# Team style guide\n\n- Every public function has a docstring and a test.\n"

SENTENCES = '''"""Counting sentences."""

import re

_END = re.compile(r"[.!?]+(?:\\s|$)")


def count_sentences(text: str) -> int:
    """The number of sentences in *text*: runs of . ! ? followed by a space or the end."""
    return len(_END.findall(text.strip()))
'''
READABILITY = '''"""A readability score: average words per sentence."""

from textstats.sentences import count_sentences
from textstats.words import count_words


def words_per_sentence(text: str) -> float:
    """Average sentence length in words (0.0 for text without sentences)."""
    sentences = count_sentences(text)
    return count_words(text) / sentences if sentences else 0.0
'''
TESTS = """from textstats.readability import words_per_sentence
from textstats.sentences import count_sentences


def test_count_sentences() -> None:
    assert count_sentences("One. Two! Three?") == 3


def test_words_per_sentence() -> None:
    assert words_per_sentence("One two. Three four.") == 2.0
"""
README_SECTION = """
## Sentences and readability

```python
from textstats.sentences import count_sentences
from textstats.readability import words_per_sentence
count_sentences("One. Two!")          # 2
words_per_sentence("One two. Three.") # 1.5
```
"""
CHECK = "python3 -c 'import textstats.{module}' && echo import ok"


def _paced(step: dict[str, Any], pace: float) -> dict[str, Any]:
    if pace:
        step = {**step, "delay": pace, "chunk_delay": pace / 20}
    return step


def _commit(name: str, what: str) -> dict[str, Any]:
    return tool("bash", command=f'{GIT_COMMIT.format(name=name)} "{what}"', description="Commit")


def ada(pace: float) -> str:
    steps = [
        {
            "reasoning": "t1 is mine: a regex over sentence ends keeps it simple.",
            **tool("ensemble_team_claim", task_id="t1"),
        },
        tool("write", filePath="textstats/sentences.py", content=SENTENCES),
        tool("bash", command=CHECK.format(module="sentences"), description="Check the import"),
        _commit("ada", "Add count_sentences"),
        tool("ensemble_team_tasks_complete", task_id="t1", result="textstats/sentences.py"),
        tool(
            "ensemble_team_message",
            to="ben",
            text="count_sentences(text) is in textstats/sentences.py on my branch; the "
            "merge brings it to yours.",
        ),
        tool("ensemble_team_message", to="lead", text="ada: t1 done (count_sentences)."),
        {"text": "Sentence counting is done and reported."},
    ]
    return script_block(*(_paced(step, pace) for step in steps))


def ben(pace: float) -> str:
    steps = [
        tool("ensemble_team_claim", task_id="t2"),
        # Wait for t1 unless the first claim already got t2 (ada was quick).
        {
            "skip_if": "You hold t2",
            "await": "Task t2 can now be claimed",
            **tool("ensemble_team_claim", task_id="t2"),
        },
        tool("write", filePath="textstats/readability.py", content=READABILITY),
        _commit("ben", "Add words_per_sentence"),
        tool("ensemble_team_tasks_complete", task_id="t2", result="textstats/readability.py"),
        tool("ensemble_team_message", to="lead", text="ben: t2 done (words_per_sentence)."),
        {"text": "Readability is done and reported."},
    ]
    return script_block(*(_paced(step, pace) for step in steps))


def cy(pace: float, style_guide: Path) -> str:
    steps = [
        {
            "reasoning": "Before writing docs I want the team's style guide.",
            **tool("read", filePath=str(style_guide)),
        },
        tool("ensemble_team_claim", task_id="t3"),
        {
            "skip_if": "You hold t3",
            "await": "Task t3 can now be claimed",
            **tool("ensemble_team_claim", task_id="t3"),
        },
        tool("write", filePath="tests/test_sentences.py", content=TESTS),
        tool(
            "bash",
            command=f"cat >> README.md <<'EOF'\n{README_SECTION}EOF",
            description="Document the new functions",
        ),
        _commit("cy", "Test and document sentences and readability"),
        tool("ensemble_team_tasks_complete", task_id="t3", result="tests and README"),
        tool("ensemble_team_message", to="lead", text="cy: t3 done (tests and README)."),
        {"text": "Tests and docs are done and reported."},
    ]
    return script_block(*(_paced(step, pace) for step in steps))


def lead_prompt(style_guide: Path, pace: float = 0.0) -> str:
    """The prompt the demo gives the lead: the plan, the team, and the cleanup."""
    tasks = [
        {"content": "Add count_sentences in textstats/sentences.py", "priority": "high"},
        {"content": "Add words_per_sentence in textstats/readability.py", "depends_on": ["t1"]},
        {
            "content": "Test both and document them in the README",
            "depends_on": ["t1", "t2"],
            "priority": "low",
        },
    ]
    reports = ["Message from ada", "Message from ben", "Message from cy"]
    steps = [
        {
            "reasoning": "Three pieces in order: sentences, readability, then tests and docs.",
            **tool("ensemble_team_create", name=TEAM),
        },
        tool("ensemble_team_tasks_add", tasks=tasks),
        tool("ensemble_team_spawn", name="ada", prompt="Do t1.\n" + ada(pace)),
        tool("ensemble_team_spawn", name="ben", prompt="Do t2 once t1 is done.\n" + ben(pace)),
        tool(
            "ensemble_team_spawn",
            name="cy",
            prompt="Do t3 once t1 and t2 are done.\n" + cy(pace, style_guide),
        ),
        {
            "text": "The plan is on the board and three teammates are at work. I will merge "
            "everything once all three have reported."
        },
        {"await": reports, **tool("ensemble_team_cleanup")},
        {
            "text": "All three branches are merged into your working directory as unstaged "
            "changes: `git status` lists the new files as untracked, and "
            "`git add -N . && git diff` shows every change, new files included."
        },
    ]
    return "Add sentence counting and a readability score to textstats.\n" + script_block(
        *(_paced(step, pace) for step in steps)
    )
