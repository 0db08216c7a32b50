# `make demo` shows the stack at work; `make test` runs every test. Both install first.

VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
# Inputs of `pip install -e`: a change to any of them rebuilds the venv's package and C extension.
INSTALL_INPUTS := pyproject.toml setup.py $(wildcard native/*.c native/*.h native/*.py)
# Binary and the Debian package that provides it; the TUN tests and the demo drive the kernel with them,
# and the referee test builds packetdrill (bison, flex) and runs its scripts (ethtool, sysctl).
SYSTEM_TOOLS := ip:iproute2 ping:iputils-ping curl:curl nc:netcat-openbsd tcpdump:tcpdump \
  bison:bison flex:flex ethtool:ethtool sysctl:procps chromium:chromium
# Files (not commands) and their package: a CJK font, so Chromium draws the web page's zh words in
# its screenshots (minitcp/web/static/style.css names it) instead of empty boxes.
SYSTEM_FILES := /usr/share/fonts/truetype/wqy/wqy-microhei.ttc:fonts-wqy-microhei

.PHONY: install test test-slow labs-kernel fuzz demo bench soak lint system-tools conformance conformance-kernel \
  conformance-linux

install: $(STAMP)

$(STAMP): $(INSTALL_INPUTS)
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

system-tools:
	@missing=""; \
	for pair in $(SYSTEM_TOOLS); do \
	  command -v "$${pair%%:*}" >/dev/null 2>&1 || missing="$$missing $${pair#*:}"; \
	done; \
	for pair in $(SYSTEM_FILES); do \
	  [ -e "$${pair%%:*}" ] || missing="$$missing $${pair#*:}"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing missing system tools:$$missing"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing; \
	else \
	  echo "warning: missing system tools:$$missing (install them as root; the tests that use them will fail)"; \
	fi

# The whole suite runs inside a private network namespace: TUN devices, addresses and
# routes made by the tests exist only there and vanish with the run.
test: install system-tools
	@if [ "$$(id -u)" = 0 ] && unshare --net true 2>/dev/null; then ns="unshare --net"; \
	elif unshare -rn true 2>/dev/null; then ns="unshare -rn"; \
	else echo "make test: cannot create a private network namespace: 'unshare --net' (as root) and" \
	  "'unshare -rn' (user namespaces) both failed; the tests will not run on the host's network." >&2; exit 1; fi; \
	echo "make test: running pytest in a private network namespace ($$ns)"; \
	$$ns $(PY) -m pytest $(PYTEST_ARGS)

# The tests `make test` leaves out (marked `slow`: long real-time runs whose behaviour a quicker
# test there covers too): time-wait-expires against the kernel (a real minute each, IPv4 and
# IPv6), the kernel labs over IPv6 beyond one of each group, the full-size IPv6 transfers, the
# loss bench's patterns beyond two. A few minutes. `make test PYTEST_ARGS=--slow` runs everything.
test-slow:
	$(MAKE) test PYTEST_ARGS="-m slow $(PYTEST_ARGS)"

# The property tests (hypothesis) with new random examples each run, where `make test` draws the
# same ones every run (tests/conftest.py); a failure it prints becomes an @example beside its test.
fuzz:
	$(MAKE) test PYTEST_ARGS="--hypothesis-profile=explore $$(grep -rl '@given' tests | sort | tr '\n' ' ') $(PYTEST_ARGS)"

# Every lab against the kernel, over IPv4 and IPv6, time-wait-expires too (about 5 minutes).
labs-kernel:
	$(MAKE) test PYTEST_ARGS="--slow tests/tun/test_labs_kernel.py $(PYTEST_ARGS)"

demo: install system-tools
	$(VENV)/bin/minitcp demo

# `minitcp bench` enters a private network namespace itself. wrk (the HTTP load generator) is
# installed if missing and possible; without it the bench uses its own Python HTTP client.
# BENCH_ARGS=--quick for the smoke-test sizes, BENCH_ARGS=--json for one JSON object.
bench: install
	@if ! command -v wrk >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "installing wrk for minitcp bench"; \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk >/dev/null 2>&1 || \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends wrk; } \
	  >/dev/null 2>&1 || echo "wrk could not be installed: the bench will use its Python HTTP client"; \
	fi
	$(VENV)/bin/minitcp bench $(BENCH_ARGS)

# `minitcp soak` enters a private network namespace itself: hostile packets at the stack while kernel
# clients move data through it checked by SHA-256, a SYN flood, abandoned connections; a verdict.
# 10^6 hostile packets by default (a few minutes); SOAK_ARGS="--packets 100000", SOAK_ARGS=--json.
soak: install system-tools
	$(VENV)/bin/minitcp soak $(SOAK_ARGS)

# The FreeBSD packetdrill suite, read from ../shared (never copied here), against minitcp in
# virtual time (no root, no TUN), in IPv4 and in IPv6 (its 244 IPv6 twins). It passes when every
# failure is a listed Linux difference that still fails for its stated reason
# (minitcp/conformance/linux_differences.toml, linux_differences_ipv6.toml).
CONFORMANCE_SUITE ?= ../shared/conformance/freebsd-tcp-testsuite
CONFORMANCE_SUITE_IPV6 ?= ../shared/conformance/freebsd-tcp-testsuite-ipv6
# packetdrill's source, built out of tree for the kernel's side of conformance-kernel and -linux.
PACKETDRILL_SOURCE ?= ../shared/tools/packetdrill
conformance: install
	$(VENV)/bin/minitcp conformance $(CONFORMANCE_SUITE) $(CONFORMANCE_SUITE_IPV6) --listed-ok $(CONFORMANCE_ARGS)

# The same suite, in IPv4 and its IPv6 twins, against minitcp and against the Linux kernel under real
# packetdrill (built as for conformance-linux; real time, each script in fresh namespaces; root; an
# IPv6 twin in 2001:2::/64), listing the scripts where the two do not strictly agree (the same line,
# segment or call result, within tolerance); about 3 minutes. It passes when they agree on every
# script. CONFORMANCE_ARGS="--kernel-side runner" compares with the runner's own kernel target
# instead (about 2 minutes).
conformance-kernel: install system-tools
	$(VENV)/bin/minitcp conformance $(CONFORMANCE_SUITE) $(CONFORMANCE_SUITE_IPV6) --compare \
	  --packetdrill-source $(PACKETDRILL_SOURCE) $(CONFORMANCE_ARGS)

# Linux's own TCP tests (google/packetdrill's gtests/net/tcp, read from ../shared, never copied here)
# under real packetdrill against this machine's kernel, the referee, beside minitcp in virtual time.
# packetdrill is built out of tree in build/packetdrill/ (bison and flex installed when missing and
# root); each script runs in fresh network and mount namespaces, in 198.18.0.0/24, the kernel side
# on CUBIC. Prints per folder the scripts, the kernel's passes and minitcp's, and each script the
# kernel passes and minitcp fails with its cause, and each target's strict agreement with the kernel
# (the same line, segment or call result, within tolerance); CONFORMANCE_ARGS=--json for JSON, --target both
# to also check the runner's own kernel target against packetdrill. Each script not ending in v4.pkt
# runs over IPv6 too (--ip-version both, as run_all.py does), in rows `FOLDER (ipv6)`. Needs root; a few minutes.
LINUX_SUITE ?= ../shared/conformance/linux-packetdrill
conformance-linux: install system-tools
	$(VENV)/bin/minitcp conformance $(LINUX_SUITE) --referee packetdrill --ip-version both \
	  --packetdrill-source $(PACKETDRILL_SOURCE) $(CONFORMANCE_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy  # pyproject.toml's [tool.mypy] files: the whole package
