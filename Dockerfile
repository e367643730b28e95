# polycom: Swift CPU runtime for PolyCom language models. (The build stage's command was
# checked on Debian 12 with Swift 6.3: a static-stdlib binary needing only the libraries below.)
#   docker build -t polycom .
#   docker run --rm -p 8000:8000 -v /path/to/model:/model polycom serve --model /model --host 0.0.0.0
FROM swift:6.1-bookworm AS build
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libopenblas-dev libmicrohttpd-dev libjansson-dev zlib1g-dev pkg-config \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Package.swift ./
COPY Sources ./Sources
COPY Tests ./Tests
RUN swift build -c release --product polycom --static-swift-stdlib \
 && cp .build/release/polycom /usr/local/bin/polycom

FROM debian:bookworm-slim
RUN apt-get update -qq \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libopenblas0-pthread libmicrohttpd12 libjansson4 zlib1g libstdc++6 \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /usr/local/bin/polycom /usr/local/bin/polycom
COPY Models /opt/polycom/Models
COPY Configs /opt/polycom/Configs
WORKDIR /opt/polycom
EXPOSE 8000
ENTRYPOINT ["polycom"]
CMD ["serve", "--host", "0.0.0.0"]
