#!/bin/sh
# The image's entry point, for Lambda, `sam local invoke` and `docker run` alike.
#
# - Started as root (`sam local invoke`, a plain `docker run`): drop to the image's unprivileged
#   user 10001 before anything else runs. The image has no USER line because SAM's emulator
#   layer (`RUN mv ... && chmod +x`) needs root at build time; the drop here keeps the function
#   itself non-root everywhere. Lambda starts the image as its own non-root user: nothing to drop.
# - No Runtime API (`docker run` without an emulator in front) but the Runtime Interface Emulator
#   mounted at /aws-lambda-rie: run under it, as AWS's own base images do.
# - Then the runtime interface client under tini as a child subreaper (`-s`): Chromium's
#   renderers outlive the browser process that a capture kills, are re-parented to the nearest
#   subreaper, and tini reaps them, so zombies never pile up in a warm environment. tini works as
#   any uid and whatever process is PID 1 (Lambda's init or the emulator); a subreaper inside
#   Python would race asyncio's child watcher for the Playwright driver's exit status.
set -eu

if [ "$(id -u)" -eq 0 ]; then
  exec setpriv --reuid=10001 --regid=10001 --clear-groups -- "$0" "$@"
fi
if [ -z "${AWS_LAMBDA_RUNTIME_API:-}" ] && [ -x /aws-lambda-rie/aws-lambda-rie ]; then
  exec /aws-lambda-rie/aws-lambda-rie "$0" "$@"
fi
exec /usr/bin/tini -s -- python -m awslambdaric "$@"
