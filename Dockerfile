# syntax=docker/dockerfile:1
# Frontend build stage: TypeScript -> static files with a Vite manifest.
FROM node:20-bookworm-slim AS frontend
WORKDIR /src/frontend
COPY frontend/package.json frontend/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY frontend/ ./
RUN npm run build

# Application image: one image for web, worker and gpu-worker (the command differs).
FROM python:3.11-slim-bookworm
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    ICHWEB_VAR_DIR=/var/lib/ichweb MEDIA_ROOT=/var/lib/ichweb/media STATIC_ROOT=/srv/static
WORKDIR /srv/ichweb
COPY pyproject.toml README.md ./
COPY ichweb/ ichweb/
COPY ml/ ml/
RUN pip install --no-cache-dir .
COPY manage.py gunicorn.conf.py ./
COPY --from=frontend /src/frontend/dist frontend/dist
RUN useradd --system --uid 1000 ichweb && mkdir -p /var/lib/ichweb/media && chown -R ichweb /var/lib/ichweb \
 && SECRET_KEY=build-only-key-not-used-at-runtime-0123456789abcdefghijklmnop python manage.py collectstatic --noinput
USER ichweb
EXPOSE 8000
CMD ["gunicorn", "ichweb.wsgi", "--config", "gunicorn.conf.py", "--bind", "0.0.0.0:8000", "--workers", "3", "--timeout", "120"]
