# Sourced by every Procfile line: where the development stack listens and what it calls itself,
# from the environment (honcho adds .env) with the design contract's defaults.
#   SCRUM_PORT 8000, WATERCOOLER_PORT 8080, PLACEHOLDER_PORT 8001, SITE_PORT 8002, HELLO_PORT 8003
#   PUBLIC_HOST  the name or address other machines use for this one; unset: this machine only.
#                Set, every service listens on all interfaces and accepts it as Host, and the
#                board's sockets (links.channel, its Content-Security-Policy) go to it.
#   HOST         the address to listen on: 127.0.0.1, or 0.0.0.0 with a PUBLIC_HOST other than
#                localhost or 127.0.0.1
: "${SCRUM_PORT:=8000}" "${WATERCOOLER_PORT:=8080}" "${PLACEHOLDER_PORT:=8001}"
: "${SITE_PORT:=8002}" "${HELLO_PORT:=8003}"
case "${PUBLIC_HOST:-}" in
    "" | localhost | 127.0.0.1) : "${HOST:=127.0.0.1}" ;;
    *) : "${HOST:=0.0.0.0}" ;;
esac
if [ -n "${PUBLIC_HOST:-}" ]; then
    export WATERCOOLER_PUBLIC="${WATERCOOLER_PUBLIC:-$PUBLIC_HOST:$WATERCOOLER_PORT}"
fi
export ALLOWED_HOSTS="${ALLOWED_HOSTS:-localhost,127.0.0.1}${PUBLIC_HOST:+,$PUBLIC_HOST}"
export WATERCOOLER_SERVER="${WATERCOOLER_SERVER:-localhost:$WATERCOOLER_PORT}"
# The board's origins, whose pages may open sockets on the watercooler.
BOARD_ORIGINS="localhost:$SCRUM_PORT,127.0.0.1:$SCRUM_PORT${PUBLIC_HOST:+,$PUBLIC_HOST:$SCRUM_PORT}"
