"""Git for the team: worktrees and branches, squash-merges, and their checks."""
