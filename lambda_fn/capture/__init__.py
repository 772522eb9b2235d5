"""One stage's capture in a fresh browser: the attempts and their budgets, the browser's lifecycle,
readiness, what the page shows (DOM evidence, error screens) and what went wrong."""
