# The root filesystem of the Strata managed plugin (see README, "Installing"). It is not meant to
# run as a container: plugin/build-docker.sh builds it, exports it and adds config.json, and
# `docker plugin create` turns that directory into the plugin.
#
# The build stage compiles src/ with the dev dependencies and assembles the runtime tree with
# plugin/make-rootfs.sh (the pinned node, util-linux mount/umount and their libraries, dist/src
# and the production node_modules); the final image holds that tree and nothing else. NODE_IMAGE
# runs the build only, and is the same node as make-rootfs.sh's pin; pin it by digest for
# byte-identical rebuilds.
ARG NODE_IMAGE=node:26.12.1-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /src
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig.json ./
COPY src/ src/
COPY plugin/ plugin/
RUN bash plugin/make-rootfs.sh /rootfs

FROM scratch
COPY --from=build /rootfs/ /
