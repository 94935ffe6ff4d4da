FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1
WORKDIR /app
COPY requirements.txt .
RUN pip install --no-cache-dir -r requirements.txt
COPY . .
RUN DJANGO_SECRET_KEY=build python manage.py collectstatic --noinput
RUN useradd --create-home botsinais
USER botsinais
EXPOSE 8000
# The Procfile's web command; WEB_CONCURRENCY web processes share the port (uvicorn --workers).
CMD ["uvicorn", "botsinais.asgi:application", "--host", "0.0.0.0", "--port", "8000", \
     "--loop", "uvloop", "--http", "httptools", "--ws", "websockets-sansio", \
     "--ws-per-message-deflate", "false", "--no-proxy-headers", "--lifespan", "off", \
     "--no-access-log"]
