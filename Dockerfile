# nianbao API: FastAPI on uvicorn. Data goes to the SQLite file /data/nianbao.db unless
# DATABASE_URL points elsewhere (e.g. postgresql://user:pass@host/db).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    DATABASE_URL=sqlite:////data/nianbao.db

WORKDIR /app

COPY requirements.lock ./
RUN pip install -r requirements.lock

# Editable install: service/templates.py reads schemas/ next to the package.
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY prompts ./prompts
COPY service ./service
# Bytecode written once at build: with PYTHONDONTWRITEBYTECODE every `nianbao` run would
# otherwise compile the project's sources again (~50 ms of a one-shot `nianbao extract`).
RUN python -m compileall -q service \
    && pip install --no-deps -e . \
    && useradd --system --uid 10001 --home-dir /app nianbao \
    && mkdir -p /data \
    && chown nianbao /data

USER nianbao
VOLUME ["/data"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=10s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/health', timeout=4)"]
CMD ["nianbao", "serve", "--host", "0.0.0.0"]
