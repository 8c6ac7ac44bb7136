# The image of nodelocal-net.sh (the init container and the sidecar of the node-local DaemonSet):
#   docker build -f deploy/overlays/nodelocal/net.Dockerfile -t typedns-nodelocal-net:0.1.0 deploy/overlays/nodelocal
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends iproute2 iptables \
 && rm -rf /var/lib/apt/lists/*
COPY nodelocal-net.sh /usr/local/bin/nodelocal-net.sh
ENTRYPOINT ["/usr/local/bin/nodelocal-net.sh"]
CMD ["run"]
