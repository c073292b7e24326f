# The image `ringtrain launch k8s` runs (docs/kubernetes.md): the repository built as `npm start`
# builds it, with `ringtrain` on the PATH and no ENTRYPOINT (the manifests name the command).
#   docker build -t ringtrain:latest .
FROM node:20-bookworm

# libvulkan1: the Vulkan loader Dawn (the webgpu backend) opens; the GPU driver's ICD is mounted
# by the NVIDIA container runtime (NVIDIA_DRIVER_CAPABILITIES must include graphics).
# libopenblas-dev: the native kernels' sgemm (headers to build, library to run).
RUN apt-get update \
 && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libvulkan1 libopenblas-dev \
 && rm -rf /var/lib/apt/lists/*

WORKDIR /app
# Dependencies first, so a source change does not reinstall them.
COPY package.json package-lock.json .npmrc ./
COPY apps/cli/package.json apps/cli/package.json
RUN npm ci

COPY . .
# Type-check, bundle dist/ringtrain.cjs and build the native kernels. On x86-64 they are built for
# x86-64-v3 (AVX2, FMA) unless RINGTRAIN_NATIVE_ARCH says otherwise, not for the build machine's
# own level: an image built on an AVX-512 machine must still run on every node.
ARG RINGTRAIN_NATIVE_ARCH=""
RUN if [ -z "$RINGTRAIN_NATIVE_ARCH" ] && [ "$(uname -m)" = x86_64 ]; then export RINGTRAIN_NATIVE_ARCH=x86-64-v3; fi \
 && npm run build \
 && ln -s /app/apps/cli/bin/ringtrain.cjs /usr/local/bin/ringtrain \
 && ringtrain --help > /dev/null

CMD ["ringtrain", "--help"]
