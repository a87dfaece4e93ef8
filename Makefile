# flowcap: build, run on a sample capture, test. Everything a fresh Debian
# machine with Go needs is installed by `make deps` (run by `make test`).

export CGO_ENABLED := 0
GO        ?= go
BIN       ?= flowcap
SAMPLE    ?= testdata/capture/zeek__http__bro.org.pcap
OUT       ?= out
FUZZTIME  ?= 60s
DEBS      := tcpflow tcpdump tshark tcpreplay iproute2

.PHONY: all build run test deps vet unit race bench fuzz release-snapshot clean

all: build

build:
	$(GO) build -trimpath -ldflags '-s -w' -o $(BIN) .

# The main job on a capture that ships in testdata/.
run: build
	rm -rf $(OUT)
	./$(BIN) read -o $(OUT) $(SAMPLE)
	ls -l $(OUT) | head -20

# Debian packages the tests use as oracles (tcpflow, tcpdump, tshark) and
# for live capture (tcpreplay, iproute2). Installed only when missing.
deps:
	@missing=""; for p in $(DEBS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ]; then \
			echo "installing:$$missing"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
		else \
			echo "missing Debian packages:$$missing (run as root, or: sudo apt-get install$$missing)"; \
		fi; \
	fi

test: deps vet unit race

vet:
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...

unit:
	$(GO) test -count=1 ./...

# The race detector needs cgo; only the tests use it, never the binary.
race:
	CGO_ENABLED=1 $(GO) test -count=1 -race ./reassembly/ ./flowfile/ ./capture/ .

# The performance run of docs/performance.md: flowcap against tcpflow and
# against the floors on the 1 GiB workloads (captures and output on tmpfs,
# in /dev/shm), then the benchmark of each stage of the per-packet path.
# BENCHFLAGS='-scale 0.05 -runs 3' for a quick look.
BENCHRUNS  ?= 5
BENCHFLAGS ?=
bench: deps build
	$(GO) run ./capture/capturetest/cmd/flowbench -flowcap ./$(BIN) -runs $(BENCHRUNS) $(BENCHFLAGS)
	$(GO) test -run '^$$' -bench '^Benchmark(Decode|Dispatch|Handle|HandleInterleaved|Write)$$' -benchmem ./capture/ . ./reassembly/ ./flowfile/

# Every fuzz target of every package, $(FUZZTIME) each (make fuzz FUZZTIME=10m).
# A crash is saved by go test under the package's testdata/fuzz/ as a seed.
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
		dir=$$($(GO) list -f '{{.Dir}}' $$pkg); \
		for t in $$(grep -ho '^func Fuzz[A-Za-z0-9_]*' $$dir/*_test.go 2>/dev/null | sed 's/^func //'); do \
			echo "== $$pkg $$t ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$t$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done

release-snapshot:
	$(GO) run github.com/goreleaser/goreleaser/v2@v2.15.1 release --snapshot --clean

clean:
	rm -rf $(BIN) $(OUT) dist
