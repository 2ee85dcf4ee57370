# Cachier: a Native AOT binary on a chiseled (distroless) Ubuntu base.
#
#   docker build --platform linux/amd64 -t registry.example.com/cachier:0.1.0 \
#     --build-arg REVISION="$(git rev-parse HEAD)" --build-arg CREATED="$(date -u -d @"$(git log -1 --format=%ct)" +%Y-%m-%dT%H:%M:%SZ)" .
#
# Without Docker, scripts/image.sh builds the same image (binary, user, entry point, environment, ports, labels) on a
# base of Debian packages and pushes it; a test (ShippedImageTests) keeps the two definitions equal.
#
# The publish targets linux-x64 (Native AOT does not cross-compile to another CPU architecture
# from this image), hence --platform linux/amd64 on arm64 machines.
#
# The build stage runs the same restore and publish commands as scripts/publish.sh, which CI uses
# to prove this build on machines without a Docker engine (a test keeps the two in step).
#
# Build and runtime images are both Ubuntu 24.04 (noble): the native binary links against the glibc
# of the build image, so the runtime image must not be older. "10.0" tags are noble too; pinning the
# distro keeps the pair consistent when the default moves.

FROM mcr.microsoft.com/dotnet/sdk:10.0-noble AS build

# Native AOT compiles to native code and links with the platform toolchain.
RUN apt-get update \
    && apt-get install -y --no-install-recommends clang zlib1g-dev \
    && rm -rf /var/lib/apt/lists/*

WORKDIR /src

# Restore layer: only the files the restore reads, so an edit to the code reuses the downloaded
# packages (including the linux-x64 runtime and ILCompiler packs).
COPY Directory.Build.props Directory.Packages.props ./
COPY function/Cachier.csproj function/
RUN dotnet restore function/Cachier.csproj -r linux-x64

# .editorconfig: the build enforces code style (Directory.Build.props), as it does outside Docker.
COPY .editorconfig ./
COPY function/ function/
RUN dotnet publish function/Cachier.csproj -c Release -r linux-x64 -o /app


# runtime-deps: glibc, OpenSSL (TLS to the API server), CA certificates, nothing else: no shell,
# no package manager, no .NET runtime (the binary carries what it uses).
FROM mcr.microsoft.com/dotnet/runtime-deps:10.0-noble-chiseled AS runtime

WORKDIR /app
# Only the binary and its settings; the publish also writes cachier.dbg (native symbols, ~120 MB).
COPY --from=build /app/cachier /app/appsettings.json ./

# Non-root, as a number so that Kubernetes' runAsNonRoot can verify it ($APP_UID is 1654, "app").
USER $APP_UID

# Cachier listens on $PORT (Knative sets it to the container port); the base image's
# ASPNETCORE_HTTP_PORTS would only make ASP.NET Core warn that $PORT overrides it.
# Read-only root file system: the runtime would create its diagnostics IPC socket in /tmp;
# with DOTNET_EnableDiagnostics=0 the process writes nothing to disk.
# DOTNET_GCgen0size (hex, no 0x: 4 MiB): the Workstation GC's gen0 budget, which it would otherwise size from
# the CPU cache; this keeps the heap, and so RSS, small (bench/RESULTS.md, section 4).
ENV PORT=8080 \
    ASPNETCORE_HTTP_PORTS= \
    DOTNET_EnableDiagnostics=0 \
    DOTNET_GCgen0size=400000
EXPOSE 8080

ENTRYPOINT ["/app/cachier"]

# OCI annotations (https://github.com/opencontainers/image-spec/blob/main/annotations.md). The source is the clone's
# https remote, if any (scripts/image.sh reads it from git); created is the commit's time, so that a rebuild of one
# commit is the same image.
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE=
ARG CREATED=1970-01-01T00:00:00Z
LABEL org.opencontainers.image.title="cachier" \
      org.opencontainers.image.description="A Knative Image for every image of every workload, and a warmer that pulls them onto the nodes" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.created="${CREATED}"
