# callcontrol in a container (docs/operations.md, "Docker"):
#   docker build -t callcontrol .
#   docker run --rm -i -v callcontrol-data:/var/lib/callcontrol callcontrol \
#       directory add admin --login ops --password-stdin --no-demo <<< 'a-long-secret'
#   docker run -d --name callcontrol --network host -v callcontrol-data:/var/lib/callcontrol \
#       -e CALLCONTROL_MEDIA__HOST=203.0.113.10 callcontrol
# The image listens on 0.0.0.0, where the demo directory's passwords are refused: create the
# real logins first (the first command above), or change the demo passwords.

FROM python:3.11-slim-bookworm AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/callcontrol
WORKDIR /src
# Only what the package is built from (pyproject's readme is README.md; ivr ships its sounds).
COPY pyproject.toml README.md ./
COPY callcontrol callcontrol
COPY sip sip
COPY ivr ivr
RUN /opt/callcontrol/bin/pip install . \
    && /opt/callcontrol/bin/callcontrol --version

FROM python:3.11-slim-bookworm
COPY --from=build /opt/callcontrol /opt/callcontrol
COPY deploy/callcontrol.toml docs/operations.md /opt/callcontrol/share/doc/callcontrol/
RUN useradd --system --user-group --uid 10001 --home-dir /var/lib/callcontrol --create-home \
        --shell /usr/sbin/nologin callcontrol
# Configuration through CALLCONTROL_<SECTION>__<KEY> variables (or a file mounted and named by
# CALLCONTROL_CONFIG). Data (SQLite, the pid file) in ./callcontrol-data of the working
# directory, the volume, which is also where `callcontrol directory|reload|drain` look by default.
ENV PATH=/opt/callcontrol/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    CALLCONTROL_SIP__LISTEN=udp:0.0.0.0:5060,tcp:0.0.0.0:5060 \
    CALLCONTROL_WS__LISTEN=0.0.0.0:8445 \
    CALLCONTROL_HTTP__LISTEN=0.0.0.0:8446
USER callcontrol
WORKDIR /var/lib/callcontrol
VOLUME ["/var/lib/callcontrol"]
# SIP, the WebSocket API, health/metrics; RTP uses media.rtp_ports (default 20000-29999/udp):
# run with --network host (publishing ten thousand UDP ports is not practical).
EXPOSE 5060/udp 5060/tcp 8445/tcp 8446/tcp
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
    CMD ["python", "-c", "import os, urllib.request; port = os.environ.get('CALLCONTROL_HTTP__LISTEN', ':8446').rpartition(':')[2]; urllib.request.urlopen(f'http://127.0.0.1:{port}/health', timeout=4)"]
# SIGTERM: BYE every call, flush the CDRs, exit 0. SIGHUP (docker kill -s HUP): reload.
# SIGUSR1: drain, exit 0 after the last call (give docker stop a longer -t then).
STOPSIGNAL SIGTERM
ENTRYPOINT ["callcontrol"]
CMD ["serve"]
