# flowcap as a container image: the static binary alone, FROM scratch.
#
#   docker build -t flowcap --build-arg VERSION=$(git describe --always) .
#   docker run --rm --network host --cap-drop ALL --cap-add NET_RAW --cap-add NET_ADMIN \
#       -v /var/flows:/flows flowcap capture -i eth0 -o /flows
#
# The binary needs no libc, no libpcap and no files besides itself: there is
# no shell, no /etc/passwd (give -U a numeric UID[:GID]) and nothing to patch.
# Live capture needs CAP_NET_RAW from the runtime (see docs/sidecar.md).

FROM golang:1.26 AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/flowcap . \
 && mkdir /out/flows

FROM scratch
COPY --from=build /out/flowcap /flowcap
# An empty directory for the flow files, for when nothing is mounted there.
COPY --from=build /out/flows /flows
ENTRYPOINT ["/flowcap"]
CMD ["capture", "-o", "/flows"]
