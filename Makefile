# ustack — see README.md. Every target works on a fresh Debian machine with Go.
GO        ?= go
PKGS      ?= ./...
FUZZTIME  ?= 30s
FUZZJOBS  ?= 1
FUZZPARALLEL ?=
FUZZLOGS  ?=
FUZZMINIMIZETIME ?= 5s
STATICCHECK ?= $(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: all build build-dpdk demo test test-race test-dpdk test-short bench bench-dpdk fuzz lint

all: build

build:
	$(GO) build $(PKGS)
	$(GO) build -o bin/ustack ./cmd/ustack

# The binary with the DPDK backend (needs libdpdk-dev and pkg-config).
build-dpdk:
	$(GO) build -tags dpdk -o bin/ustack ./cmd/ustack

# The main job: two stacks on an in-memory link, no root, no NIC.
demo:
	$(GO) run ./cmd/ustack demo

# Every test. Root-only tests (TAP, namespaces, DPDK) run when root and skip
# with a reason otherwise.
test:
	$(GO) test -count=1 -timeout 25m $(PKGS)
	@$(MAKE) --no-print-directory test-race
	@$(MAKE) --no-print-directory test-dpdk

# The stack's queues running concurrently (loops, hand-offs between them,
# shared listeners and sockets) under the race detector.
test-race:
	$(GO) test -race -count=1 -timeout 10m -run 'MultiQueue' ./stack/

# The DPDK backend's tests, with the EAL on virtual devices, and the
# integration tests of ustack built with DPDK (TestDPDK*; the others ran
# in test already); they need libdpdk-dev (root for net_tap).
test-dpdk:
	@if pkg-config --exists libdpdk 2>/dev/null; then \
		$(GO) test -tags dpdk -count=1 -timeout 10m ./dpdk/ && \
		$(GO) test -tags dpdk -count=1 -timeout 10m -run '^TestDPDK' ./integration/; \
	else \
		echo "dpdk: SKIP: libdpdk-dev and pkg-config are not installed (.ci/run installs them)"; \
	fi

test-short:
	$(GO) test -short -count=1 $(PKGS)

# Go benchmarks of every package, then ustack against gVisor's netstack
# side by side (bench/ is its own module so gVisor stays out of ustack's).
bench:
	$(GO) test -run '^$$' -bench . -benchmem $(PKGS)
	cd bench && $(GO) run ./cmd/compare

# The DPDK backend's benchmarks on net_ring (root, libdpdk-dev): the
# round trip through Alloc, Send, Recv and Release against the same loop
# in C, and UDP echo and TCP bulk through the stack.
bench-dpdk:
	$(GO) test -tags dpdk -run '^$$' -bench . -benchmem ./dpdk/

# Each fuzz target for FUZZTIME (make fuzz FUZZTIME=10m), FUZZJOBS targets
# at a time with FUZZPARALLEL workers each (make fuzz FUZZTIME=10m
# FUZZJOBS=2 FUZZPARALLEL=1 on two cores); logs go to FUZZLOGS; each new
# input is minimized for at most FUZZMINIMIZETIME.
fuzz:
	GO=$(GO) FUZZTIME=$(FUZZTIME) FUZZJOBS=$(FUZZJOBS) FUZZPARALLEL=$(FUZZPARALLEL) FUZZLOGS=$(FUZZLOGS) FUZZMINIMIZETIME=$(FUZZMINIMIZETIME) sh scripts/fuzz.sh $(PKGS)

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	$(STATICCHECK) $(PKGS)
