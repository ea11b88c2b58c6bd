# hybridproxy container image: the cpe, concentrator or sidecar role, chosen by the mounted config.
#
#   docker build -t hybridproxy .
#   docker run --user 0 --cap-add NET_ADMIN -p 5100:5100 \
#       -v ./configs/concentrator.conf:/etc/hybridproxy/hybridproxy.conf:ro hybridproxy
#   (podman: --cap-add NET_ADMIN suffices, it makes the capability ambient for the image's non-root user)
#
# Build arguments (defaults are the usual public images, so `docker build .` needs nothing else):
#   BUILD_IMAGE    a JDK 25 with jlink, JAVA_HOME at /opt/java/openjdk (Eclipse Temurin's layout)
#   RUNTIME_IMAGE  a slim Debian; the jlink'd JRE, iproute2 and nftables go on top
#   MAVEN_ARGS     extra Maven arguments, e.g. "-o" for an offline build whose repository is mounted at
#                  /root/.m2 (podman/buildah: --volume ~/.m2:/root/.m2:O); see docs/decisions.md
ARG BUILD_IMAGE=eclipse-temurin:25-jdk
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${BUILD_IMAGE} AS build
ARG MAVEN_ARGS=""
ENV JAVA_HOME=/opt/java/openjdk
WORKDIR /src
COPY .mvn .mvn
COPY mvnw pom.xml ./
COPY mptcp-engine mptcp-engine
COPY admin admin
COPY proxy proxy
# The reactor reads every module's pom, even of modules it does not build.
COPY loadtest/pom.xml loadtest/pom.xml
COPY dist/pom.xml dist/pom.xml
COPY bin/hybridproxy bin/hybridproxy
# Only the modules the appliance runs; tests run in CI, not in the image build.
RUN ./mvnw -B -q ${MAVEN_ARGS} -pl proxy -am package -Dmaven.test.skip=true \
 && mkdir -p /opt/hybridproxy/bin /opt/hybridproxy/lib \
 && cp proxy/target/proxy-*.jar proxy/target/lib/*.jar /opt/hybridproxy/lib/ \
 && rm -f /opt/hybridproxy/lib/proxy-*-tests.jar \
 && cp bin/hybridproxy /opt/hybridproxy/bin/ \
 && chmod 755 /opt/hybridproxy/bin/hybridproxy
# A JRE with just the modules the appliance uses (jdeps over the jars; java.management for the JVM
# metrics, jdk.unsupported for Netty). JDK 25 links from its own runtime image, no jmods needed.
RUN "$JAVA_HOME/bin/jlink" --add-modules java.base,java.logging,java.management,java.naming,jdk.management,jdk.unsupported \
      --strip-java-debug-attributes --no-man-pages --no-header-files --compress=zip-6 --output /opt/hybridproxy/jre

FROM ${RUNTIME_IMAGE}
# iproute2 and nftables: policy routing and the cpe's capture rules (`hybridproxy check` reports both).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends iproute2 nftables \
 && apt-get clean && rm -rf /var/lib/apt/lists/* /var/cache/apt/* /var/log/apt /var/log/dpkg.log \
 && useradd --system --uid 10001 --user-group --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin hybridproxy \
 && mkdir -p /etc/hybridproxy
COPY --from=build /opt/hybridproxy /opt/hybridproxy
COPY configs/ /usr/share/hybridproxy/examples/
RUN ln -s /opt/hybridproxy/bin/hybridproxy /usr/local/bin/hybridproxy
# Non-root. Roles that change kernel state (MPTCP endpoints, policy routes, capture rules) need
# CAP_NET_ADMIN from the runtime: podman hands `--cap-add NET_ADMIN` to a non-root user as an ambient
# capability; Docker and Kubernetes do not, so there the process runs as uid 0 holding only
# NET_ADMIN (docs/operations.md). A sidecar needs no capability.
USER 10001:10001
ENV JAVA_HOME=/opt/hybridproxy/jre
EXPOSE 5100 5101 8443 9190
ENTRYPOINT ["hybridproxy"]
CMD ["run", "--config", "/etc/hybridproxy/hybridproxy.conf"]
