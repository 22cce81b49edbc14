# Slim image: migrations, then gunicorn as a non-root user.
FROM python:3.11-slim AS base
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    APP_ENV=production FLASK_APP=wsgi:app BIND=0.0.0.0:8000
WORKDIR /srv/digitserve
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY app ./app
COPY migrations ./migrations
COPY wsgi.py gunicorn.conf.py ./
RUN useradd --create-home --uid 10001 digitserve \
    && mkdir -p instance mlruns \
    && chown -R digitserve:digitserve instance mlruns
USER digitserve
EXPOSE 8000
HEALTHCHECK --interval=15s --timeout=3s CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/health').status != 200)"
CMD ["sh", "-c", "flask db upgrade && flask models bootstrap && exec gunicorn -c gunicorn.conf.py wsgi:app"]
