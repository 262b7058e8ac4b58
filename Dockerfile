# The hook image: the binderhub-registry CLI on a slim Python, running as uid 65532 and working
# with a read-only root filesystem (HOME and any scratch space is the /tmp emptyDir of the Pod).
FROM python:3.12-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY hooks ./hooks
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[google]"

FROM python:3.12-slim
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir --no-index /wheels/*.whl && rm -rf /wheels
ENV HOME=/tmp PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
USER 65532:65532
ENTRYPOINT ["binderhub-registry"]
