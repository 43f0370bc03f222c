# basisgraph: the web app (API + static page) in a slim, non-root image.
#   docker build -t basisgraph . && docker run --rm -p 8000:8000 basisgraph

# D3 and Swagger UI exactly as package-lock.json pins them; Node is needed only to fetch them.
FROM node:20-slim AS web
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --ignore-scripts --no-audit --no-fund

# Build the wheel, which carries the page and the vendored browser files.
FROM python:3.11-slim AS wheel
WORKDIR /src
COPY pyproject.toml README.md ./
COPY backend ./backend
COPY frontend ./frontend
COPY --from=web /src/node_modules/d3/dist/d3.min.js ./node_modules/d3/dist/d3.min.js
COPY --from=web /src/node_modules/swagger-ui-dist/swagger-ui-bundle.js /src/node_modules/swagger-ui-dist/swagger-ui.css ./node_modules/swagger-ui-dist/
RUN pip wheel --no-cache-dir --no-deps -w /wheels .

FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
# The CPU build of torch first: the package pins torch==2.13.0, which this satisfies, so pip
# never pulls the multi-GB CUDA build.
RUN pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0
COPY --from=wheel /wheels /tmp/wheels
RUN pip install /tmp/wheels/*.whl && rm -rf /tmp/wheels
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin basisgraph
USER basisgraph
WORKDIR /home/basisgraph
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/api/v1/health', timeout=4).status == 200 else 1)"]
CMD ["basisgraph", "serve", "--host", "0.0.0.0"]
