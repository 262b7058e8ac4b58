# The hook image: the binderhub-registry CLI on Debian's Python 3.11, nothing else (no shell, no
# package manager), running as uid 65532 and working with a read-only root filesystem (HOME and
# any scratch space is the /tmp emptyDir of the Pod). Every module is compiled to bytecode at
# build time, so a start reads bytecode instead of compiling.
#
#   docker build -t IMAGE .          # or podman build / buildah bud; needs Docker Hub for the base
#   ./scripts/build-image [IMAGE]    # the same steps with buildah, on a base made with debootstrap
#
# BASE_IMAGE is a Debian bookworm image; its apt sources and PyPI must be reachable while
# building. The final image is FROM scratch: only what the build stage collects runs.
ARG BASE_IMAGE=docker.io/library/debian:bookworm-slim

FROM ${BASE_IMAGE} AS build
# The CA bundle pip trusts, if not Debian's (scripts/build-image passes the machine's, for
# networks that intercept TLS); unset, pip uses Debian's ca-certificates.
ARG PIP_CERT
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends python3 python3-venv ca-certificates \
 && rm -rf /var/lib/apt/lists/*
# Dependencies first (a layer that only changes with pyproject.toml), then the package.
COPY pyproject.toml /src/
RUN python3 -m venv /opt/binderhub-registry \
 && python3 -c 'import tomllib; p = tomllib.load(open("/src/pyproject.toml", "rb"))["project"]; print("\n".join(p["dependencies"] + p["optional-dependencies"]["google"] + p["optional-dependencies"]["helper"] + p["optional-dependencies"]["aws"]))' > /src/requirements.txt \
 && /opt/binderhub-registry/bin/pip install --no-cache-dir --no-compile --disable-pip-version-check -r /src/requirements.txt
COPY README.md /src/
COPY hooks /src/hooks
RUN /opt/binderhub-registry/bin/pip install --no-cache-dir --no-compile --disable-pip-version-check --no-deps /src
COPY scripts/image_slim_venv.py scripts/image_rootfs.py /src/scripts/
RUN /opt/binderhub-registry/bin/python /src/scripts/image_slim_venv.py /opt/binderhub-registry \
 && mkdir /rootfs && python3 /src/scripts/image_rootfs.py /rootfs /opt/binderhub-registry

FROM scratch
COPY --from=build /rootfs /
COPY --from=build /opt/binderhub-registry /opt/binderhub-registry
ENV PATH=/opt/binderhub-registry/bin:/usr/bin \
    HOME=/tmp \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 65532:65532
ENTRYPOINT ["binderhub-registry"]
CMD ["--help"]
