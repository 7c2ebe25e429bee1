# Shortcuts for the tools; each target is one tool run.
.PHONY: all test quick lint export tables

all:
	tools/build-series

test:
	tools/test

quick:
	tools/test --quick

# checkpatch --strict over every patch of every stack (under a minute once
# the stack trees exist).
lint:
	tools/lint

export:
	tools/export-series

tables:
	tools/kunit-table --write
