"""Where the browser may go: the URL and destination policy and the proxy that enforces it."""
