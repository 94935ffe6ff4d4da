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
CMD ["daphne", "-b", "0.0.0.0", "-p", "8000", "botsinais.asgi:application"]
